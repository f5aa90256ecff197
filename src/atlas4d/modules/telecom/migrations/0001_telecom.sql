-- Telecom module (the original Atlas4D reference profile): network nodes, topology links, traffic
-- metrics as a time series, and network anomalies, in schema atlas4d_telecom only. Nodes refer to
-- core entities by id without a foreign key, so core can reload or truncate its tables freely.
CREATE SCHEMA IF NOT EXISTS atlas4d_telecom;

CREATE TABLE IF NOT EXISTS atlas4d_telecom.nodes (
    entity_id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('olt', 'switch', 'cpe')),
    name text NOT NULL,
    vendor text,
    model text,
    capacity_mbps double precision CHECK (capacity_mbps >= 0),
    ports integer CHECK (ports >= 0),
    ports_used integer CHECK (ports_used >= 0),
    optical_power_dbm double precision,
    geom geometry(Point, 4326),
    properties jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS nodes_kind ON atlas4d_telecom.nodes (kind);
CREATE INDEX IF NOT EXISTS nodes_geom ON atlas4d_telecom.nodes USING gist (geom);

-- Links point downstream: from the node nearer the core of the network to the one it feeds.
CREATE TABLE IF NOT EXISTS atlas4d_telecom.links (
    id uuid PRIMARY KEY,
    from_node uuid NOT NULL REFERENCES atlas4d_telecom.nodes (entity_id) ON DELETE CASCADE,
    to_node uuid NOT NULL REFERENCES atlas4d_telecom.nodes (entity_id) ON DELETE CASCADE,
    medium text NOT NULL CHECK (medium IN ('fiber', 'copper', 'wireless')),
    capacity_mbps double precision NOT NULL CHECK (capacity_mbps > 0),
    length_m double precision CHECK (length_m >= 0),
    UNIQUE (from_node, to_node),
    CHECK (from_node <> to_node)
);
CREATE INDEX IF NOT EXISTS links_to ON atlas4d_telecom.links (to_node);

CREATE TABLE IF NOT EXISTS atlas4d_telecom.metrics (
    node_id uuid NOT NULL REFERENCES atlas4d_telecom.nodes (entity_id) ON DELETE CASCADE,
    t timestamptz NOT NULL,
    throughput_mbps double precision CHECK (throughput_mbps >= 0),
    latency_ms double precision CHECK (latency_ms >= 0),
    packet_loss_pct double precision CHECK (packet_loss_pct BETWEEN 0 AND 100),
    optical_power_dbm double precision,
    utilization_pct double precision CHECK (utilization_pct >= 0),
    status text NOT NULL DEFAULT 'up' CHECK (status IN ('up', 'down')),
    PRIMARY KEY (node_id, t)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('atlas4d_telecom.metrics', 't', if_not_exists => true, migrate_data => true);
    ELSE
        CREATE INDEX IF NOT EXISTS metrics_t_brin ON atlas4d_telecom.metrics USING brin (t);
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS atlas4d_telecom.anomalies (
    id uuid PRIMARY KEY,
    node_id uuid NOT NULL REFERENCES atlas4d_telecom.nodes (entity_id) ON DELETE CASCADE,
    type text NOT NULL
        CHECK (type IN ('high_latency', 'packet_loss', 'link_down', 'congestion', 'power_warning')),
    severity integer NOT NULL CHECK (severity BETWEEN 1 AND 5),
    started_at timestamptz NOT NULL,
    ended_at timestamptz NOT NULL,
    peak_value double precision,
    threshold double precision,
    samples integer NOT NULL CHECK (samples > 0),
    CHECK (ended_at >= started_at)
);
CREATE INDEX IF NOT EXISTS anomalies_node ON atlas4d_telecom.anomalies (node_id, started_at DESC);
CREATE INDEX IF NOT EXISTS anomalies_time ON atlas4d_telecom.anomalies (started_at, ended_at);

-- Anomaly detection over the metrics. Each sample gets at most one fault, the first that holds of:
-- link_down (status down), congestion (utilisation >= p_util), packet_loss (loss >= p_loss),
-- high_latency (latency >= p_latency), power_warning (optical power <= p_power). Consecutive samples
-- of a node with the same fault form one anomaly, from its first to its last faulty sample; its peak
-- is the worst value seen (the lowest power, the highest of the others) and sets the severity.
CREATE OR REPLACE FUNCTION atlas4d_telecom.detect_anomalies(
    p_nodes uuid[], p_from timestamptz, p_to timestamptz, p_latency double precision,
    p_loss double precision, p_util double precision, p_power double precision
) RETURNS TABLE (
    node_id uuid, type text, severity integer, started_at timestamptz, ended_at timestamptz,
    peak_value double precision, threshold double precision, samples integer
) LANGUAGE sql STABLE AS $$
    WITH classified AS (
        SELECT m.node_id AS node, m.t,
               CASE WHEN m.status = 'down' THEN 'link_down'
                    WHEN m.utilization_pct >= p_util THEN 'congestion'
                    WHEN m.packet_loss_pct >= p_loss THEN 'packet_loss'
                    WHEN m.latency_ms >= p_latency THEN 'high_latency'
                    WHEN m.optical_power_dbm <= p_power THEN 'power_warning'
               END AS fault,
               m.utilization_pct, m.packet_loss_pct, m.latency_ms, m.optical_power_dbm
        FROM atlas4d_telecom.metrics m
        WHERE m.node_id = ANY(p_nodes) AND (p_from IS NULL OR m.t >= p_from) AND (p_to IS NULL OR m.t < p_to)
    ), runs AS (
        SELECT c.*,
               row_number() OVER (PARTITION BY c.node ORDER BY c.t)
               - row_number() OVER (PARTITION BY c.node, c.fault ORDER BY c.t) AS run,
               CASE c.fault WHEN 'link_down' THEN c.packet_loss_pct WHEN 'congestion' THEN c.utilization_pct
                    WHEN 'packet_loss' THEN c.packet_loss_pct WHEN 'high_latency' THEN c.latency_ms
                    ELSE c.optical_power_dbm END AS value
        FROM classified c
    ), episodes AS (
        SELECT r.node, r.fault, min(r.t) AS t0, max(r.t) AS t1, count(*)::integer AS n,
               CASE WHEN r.fault = 'power_warning' THEN min(r.value) ELSE max(r.value) END AS peak
        FROM runs r WHERE r.fault IS NOT NULL
        GROUP BY r.node, r.fault, r.run
    )
    SELECT e.node, e.fault,
           CASE e.fault WHEN 'link_down' THEN 5
                WHEN 'packet_loss' THEN CASE WHEN e.peak >= 5 THEN 4 ELSE 3 END
                WHEN 'congestion' THEN 3
                WHEN 'high_latency' THEN CASE WHEN e.peak >= 100 THEN 3 ELSE 2 END
                ELSE CASE WHEN e.peak <= p_power - 2 THEN 3 ELSE 2 END END,
           e.t0, e.t1, e.peak,
           CASE e.fault WHEN 'link_down' THEN NULL WHEN 'congestion' THEN p_util WHEN 'packet_loss' THEN p_loss
                WHEN 'high_latency' THEN p_latency ELSE p_power END,
           e.n
    FROM episodes e
    ORDER BY e.node, e.t0
$$;
