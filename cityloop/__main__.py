from cityloop.cli import main

raise SystemExit(main())
