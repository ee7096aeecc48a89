"""Plain renderings shared by the command line, the service and the apps: tables that fit
any width, and an auction's explanation."""
