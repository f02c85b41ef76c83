# load the daemon (RunAtLoad starts it)
launchctl bootstrap system /Library/LaunchDaemons/org.duende.sleeper.plist
# restart it now
launchctl kickstart -k system/org.duende.sleeper
# send the stop signal
launchctl kill SIGTERM system/org.duende.sleeper
# state, pid, runs, last exit code
launchctl print system/org.duende.sleeper
# stop and unload
launchctl bootout system/org.duende.sleeper
