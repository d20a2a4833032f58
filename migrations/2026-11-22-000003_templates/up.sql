-- Templates known to Kiln: discovered in template folders ('folder' from KILN_TEMPLATE_DIRS,
-- 'builtin' from the built-in set) or made in the UI ('custom', never touched by a sync).
CREATE TABLE templates (
    id BIGSERIAL PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL CHECK (source IN ('folder', 'builtin', 'custom')),
    -- The template root directory the folder was found under; NULL for custom templates.
    root TEXT,
    app TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    tags TEXT[] NOT NULL DEFAULT '{}',
    -- The shared `Template`, serialized.
    model JSONB NOT NULL,
    -- Lint findings of the folder (`Finding`s), shown beside the template.
    findings JSONB NOT NULL DEFAULT '[]',
    error_count INTEGER NOT NULL DEFAULT 0,
    warning_count INTEGER NOT NULL DEFAULT 0,
    -- SHA-256 (hex) over the folder's relative paths and bytes: a changed folder is re-read.
    content_hash TEXT,
    -- 'missing': the folder disappeared; the row stays (containers will reference it).
    status TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'missing')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    synced_at TIMESTAMPTZ
);

-- One row per template sync (at start, later on demand).
CREATE TABLE template_sync_runs (
    id BIGSERIAL PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    added INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    missing INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    -- [{"slug": ..., "path": ..., "message": ...}]
    errors JSONB NOT NULL DEFAULT '[]'
);
