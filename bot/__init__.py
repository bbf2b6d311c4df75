"""devops-role-bot: answers newcomers' questions from a team's role documentation."""
