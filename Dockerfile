# The Haetae server image: the static `haetae` binary and nothing else, FROM scratch (no base image is
# pulled from anywhere).
#
# Build the binary on the host first, statically, into the directory used as the build context, then
# the image from this Dockerfile:
#
#   CGO_ENABLED=0 go build -o deploy/haetae ./cmd/haetae
#   docker build -f Dockerfile -t haetae deploy
#
# `docker-compose -f deploy/compose.yaml up --build` does the second step itself (docs/cluster.md).
#
# The container runs `haetae serve` with the API on 0.0.0.0:8080 and its data in the volume /data;
# the cluster routes listen on 6222 when HAETAE_DC and HAETAE_PEERS make it a cluster member. Every
# other setting is a HAETAE_* environment variable (HAETAE_CLUSTER_SECRET_FILE, HAETAE_ADVERTISE_URL,
# ...), since the command below already names --listen and --data. There is no shell in the image, so
# no HEALTHCHECK: probe GET /readyz from outside.
FROM scratch
COPY haetae /haetae
VOLUME /data
EXPOSE 8080 6222
ENTRYPOINT ["/haetae"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--data", "/data"]
