from hotelbot.cli.main import main

raise SystemExit(main())
