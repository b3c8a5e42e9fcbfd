backlog = 8
