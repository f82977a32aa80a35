from helo.cli import main

raise SystemExit(main())
