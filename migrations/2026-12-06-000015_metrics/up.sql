-- Resource history (issue 12). One series per measured thing (a guest of a Kiln node, or a
-- cluster member), raw samples every poll, and min/avg/max rollups per minute, hour and day.
-- Every sample table is partitioned by time (daily; monthly for hours, yearly for days):
-- retention drops whole partitions, and a chart reads one series' range through the primary
-- key (series_id, at) of the few partitions the range touches. Partitions are made ahead by
-- the monitor's maintenance (`monitor::store::ensure_partitions`).
CREATE TABLE metric_series (
    id serial PRIMARY KEY,
    node_id bigint NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    -- 'member' (a PVE node of the cluster), 'lxc' or 'qemu'.
    kind text NOT NULL CHECK (kind IN ('member', 'lxc', 'qemu')),
    -- The guest's VMID; 0 for a member.
    vmid integer NOT NULL DEFAULT 0,
    -- The member's name; '' for a guest.
    member text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (node_id, kind, vmid, member)
);

-- One poll's figures of a running guest or an online member (a stopped guest has none, like
-- PVE's own RRD). Rates (net*, disk read/write) are bytes per second since the previous poll,
-- NULL on a series' first poll or after a counter went backwards (a restart).
CREATE TABLE metric_raw (
    series_id integer NOT NULL,
    at timestamptz NOT NULL,
    cpu real,
    mem bigint,
    maxmem bigint,
    disk bigint,
    maxdisk bigint,
    netin real,
    netout real,
    diskread real,
    diskwrite real,
    load real,
    uptime bigint,
    PRIMARY KEY (series_id, at)
) PARTITION BY RANGE (at);

-- Per minute, from the raw samples (or the node's own RRD for a gap).
CREATE TABLE metric_1m (
    series_id integer NOT NULL,
    at timestamptz NOT NULL,
    -- Raw samples behind the row (a back-filled row counts as a full bucket).
    n integer NOT NULL,
    cpu_avg real, cpu_min real, cpu_max real,
    mem_avg real, mem_min real, mem_max real,
    disk_avg real, disk_min real, disk_max real,
    netin_avg real, netin_min real, netin_max real,
    netout_avg real, netout_min real, netout_max real,
    diskread_avg real, diskread_min real, diskread_max real,
    diskwrite_avg real, diskwrite_min real, diskwrite_max real,
    load_avg real, load_min real, load_max real,
    maxmem bigint,
    maxdisk bigint,
    PRIMARY KEY (series_id, at)
) PARTITION BY RANGE (at);

-- Per hour, from the minutes.
CREATE TABLE metric_1h (
    series_id integer NOT NULL,
    at timestamptz NOT NULL,
    -- Raw samples behind the row (a back-filled row counts as a full bucket).
    n integer NOT NULL,
    cpu_avg real, cpu_min real, cpu_max real,
    mem_avg real, mem_min real, mem_max real,
    disk_avg real, disk_min real, disk_max real,
    netin_avg real, netin_min real, netin_max real,
    netout_avg real, netout_min real, netout_max real,
    diskread_avg real, diskread_min real, diskread_max real,
    diskwrite_avg real, diskwrite_min real, diskwrite_max real,
    load_avg real, load_min real, load_max real,
    maxmem bigint,
    maxdisk bigint,
    PRIMARY KEY (series_id, at)
) PARTITION BY RANGE (at);

-- Per day, from the hours.
CREATE TABLE metric_1d (
    series_id integer NOT NULL,
    at timestamptz NOT NULL,
    -- Raw samples behind the row (a back-filled row counts as a full bucket).
    n integer NOT NULL,
    cpu_avg real, cpu_min real, cpu_max real,
    mem_avg real, mem_min real, mem_max real,
    disk_avg real, disk_min real, disk_max real,
    netin_avg real, netin_min real, netin_max real,
    netout_avg real, netout_min real, netout_max real,
    diskread_avg real, diskread_min real, diskread_max real,
    diskwrite_avg real, diskwrite_min real, diskwrite_max real,
    load_avg real, load_min real, load_max real,
    maxmem bigint,
    maxdisk bigint,
    PRIMARY KEY (series_id, at)
) PARTITION BY RANGE (at);

-- How far each rollup has gone: the next run starts a little before it (late samples).
CREATE TABLE metric_rollups (
    tier text PRIMARY KEY,
    done_until timestamptz NOT NULL
);

-- What the monitor knows of each node's reachability (the offline views' banner).
CREATE TABLE node_watch (
    node_id bigint PRIMARY KEY REFERENCES nodes (id) ON DELETE CASCADE,
    reachable boolean NOT NULL,
    -- While unreachable: since when.
    unreachable_since timestamptz,
    last_seen timestamptz,
    error text,
    polled_at timestamptz NOT NULL DEFAULT now()
);
