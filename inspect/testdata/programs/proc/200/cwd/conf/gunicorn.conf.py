bind = "unix:/run/g.sock"
backlog = 64  # from the file
