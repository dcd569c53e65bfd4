from headend.cli import main

raise SystemExit(main())
