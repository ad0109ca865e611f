module github.com/trent-kms/trent

go 1.26.8
