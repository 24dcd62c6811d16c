from labelclean.cli.main import main

main()
