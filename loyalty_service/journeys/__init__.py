"""Omnichannel journeys: click-and-collect pickups, cross-channel earning conditions, referrals."""
