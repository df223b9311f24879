module github.com/restart-run/restart-run

go 1.26.8

require (
	github.com/alecthomas/kong v1.17.0
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/creack/pty v1.1.24
	github.com/kballard/go-shellquote v0.0.0-20180428030007-95032a82bc51
	github.com/rs/zerolog v1.34.0 // not v1.35+: they link log/slog (+131 KB), see TestLinkedCode
	golang.org/x/sys v0.50.0
)

require (
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
)
