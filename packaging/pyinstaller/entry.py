"""Entry point of the one-file executable: the ``hotelbot`` command."""

from hotelbot.frozen import stop_with_launcher

stop_with_launcher()

from hotelbot.cli.main import main  # noqa: E402  (after the launcher check, which must come first)

raise SystemExit(main())
