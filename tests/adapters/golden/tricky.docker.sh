docker run \
  --detach \
  --name tricky.svc-1 \
  --init \
  --network host \
  --restart no \
  --stop-signal SIGTERM \
  --stop-timeout 2 \
  --env 'BACKSLASH=C:\path\' \
  --env 'DOLLAR=$HOME and ${X}' \
  --env PERCENT=100% \
  --env 'QUOTES=say "hi" it'\''s' \
  debian:12 /bin/sh -c 'echo "$HOME" 100% '\''it'\'''\''s'\'' \ done' ';' 'a b'
