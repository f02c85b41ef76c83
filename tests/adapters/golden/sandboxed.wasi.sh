# kvd on the wasi platform: a WASI preview 1 module under Node's node:wasi
# (Node 20+). duende writes the runner into $RUN_DIR (a private directory),
# bridges the target's address (none given) to its stdin/stdout, and restarts it
# with the config's [restart] policy. A trap exits 70 with its message in $RUN_DIR/trap.
node --no-warnings "$RUN_DIR/duende-wasi-run.mjs" --stdin "$RUN_DIR/in" --stdout "$RUN_DIR/out" --trap "$RUN_DIR/trap" --dir /var/lib/kvd=/var/lib/kvd -- /usr/bin/sleep 1000
