# load the daemon (RunAtLoad starts it)
launchctl bootstrap system /Library/LaunchDaemons/org.duende.tricky.svc-1.plist
# restart it now
launchctl kickstart -k system/org.duende.tricky.svc-1
# send the stop signal
launchctl kill SIGTERM system/org.duende.tricky.svc-1
# state, pid, runs, last exit code
launchctl print system/org.duende.tricky.svc-1
# stop and unload
launchctl bootout system/org.duende.tricky.svc-1
