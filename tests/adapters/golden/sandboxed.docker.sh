docker run \
  --detach \
  --name kvd \
  --init \
  --network host \
  --restart on-failure:5 \
  --stop-signal SIGTERM \
  --stop-timeout 10 \
  --user daemon:daemon \
  --workdir /var/lib/kvd \
  debian:12 /usr/bin/sleep 1000
