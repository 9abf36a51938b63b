-- Webhook signing secrets the service generated (the shared one, and a
-- key's own when the keys file gives none), so that every instance signs
-- with the same secret: the first instance to need one creates it.
CREATE TABLE leadcheck_secrets (
    name       text PRIMARY KEY,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
