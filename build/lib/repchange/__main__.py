from repchange.book.cli import main

raise SystemExit(main())
