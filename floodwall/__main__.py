from floodwall.cli import main

raise SystemExit(main())
