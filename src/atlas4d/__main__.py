from atlas4d.cli import main

main()
