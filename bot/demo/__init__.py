"""The demo: the real bot on a local page that plays Slack (`server`), and the stand-in for
Slack it runs on (`standin`), which the tests use too."""
