# load the daemon (RunAtLoad starts it)
launchctl bootstrap system /Library/LaunchDaemons/org.duende.kvd.plist
# restart it now
launchctl kickstart -k system/org.duende.kvd
# send the stop signal
launchctl kill SIGTERM system/org.duende.kvd
# state, pid, runs, last exit code
launchctl print system/org.duende.kvd
# stop and unload
launchctl bootout system/org.duende.kvd
