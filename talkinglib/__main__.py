from talkinglib.cli import main

raise SystemExit(main())
