from kmgen.cli import main

raise SystemExit(main())
