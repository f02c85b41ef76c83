docker run \
  --detach \
  --name sleeper \
  --init \
  --network host \
  --restart on-failure:5 \
  --stop-signal SIGTERM \
  --stop-timeout 10 \
  debian:12 /usr/bin/sleep 1000
