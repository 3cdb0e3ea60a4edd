module schedcp.local/pause

go 1.24
