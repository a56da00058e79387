from loyalty_service.cli import main

raise SystemExit(main())
