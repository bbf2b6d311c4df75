"""The Slack app, split by surface as Bolt's starter template is: `app` (the app and what
its listeners share), `commands`, `messages`, `actions`, `feedback`, `home`, the replies they
send (`reply`) and the server (`server`)."""
