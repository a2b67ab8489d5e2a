from pernode_cli.cli import main

main()
