-- Likeness scale-out profile: the state the embedded SQLite file keeps, in PostgreSQL (applied by Flyway).
-- Times are epoch milliseconds. Requests carry a worker lease (worker_id, lease_until).
CREATE TABLE requests(
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  endpoint TEXT NOT NULL,
  key_id TEXT,
  input TEXT NOT NULL,
  status TEXT NOT NULL,
  priority INTEGER NOT NULL,
  sync BOOLEAN NOT NULL,
  base_url TEXT NOT NULL,
  webhook TEXT,
  cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  completed_at BIGINT,
  result_status INTEGER,
  result_body TEXT,
  error TEXT,
  error_type TEXT,
  worker_id TEXT,
  lease_until BIGINT);
CREATE INDEX requests_queue ON requests(status, priority, seq);
CREATE INDEX requests_lease ON requests(lease_until) WHERE status = 'IN_PROGRESS';
CREATE INDEX requests_completed ON requests(completed_at) WHERE status = 'COMPLETED';

CREATE TABLE logs(
  seq BIGSERIAL PRIMARY KEY,
  request_id TEXT NOT NULL,
  ts BIGINT NOT NULL,
  level TEXT NOT NULL,
  source TEXT NOT NULL,
  message TEXT NOT NULL);
CREATE INDEX logs_request ON logs(request_id, seq);

CREATE TABLE api_keys(
  id TEXT PRIMARY KEY,
  secret_sha256 TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT);

CREATE TABLE files(
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  content_type TEXT NOT NULL,
  size BIGINT NOT NULL,
  key_id TEXT,
  complete BOOLEAN NOT NULL,
  created_at BIGINT NOT NULL);

CREATE TABLE usage(
  request_id TEXT PRIMARY KEY,
  key_id TEXT,
  endpoint TEXT NOT NULL,
  unit TEXT NOT NULL,
  quantity DOUBLE PRECISION NOT NULL,
  unit_price_micros BIGINT NOT NULL,
  cost_micros BIGINT NOT NULL,
  completed_at BIGINT NOT NULL);
CREATE INDEX usage_key ON usage(key_id, completed_at);

CREATE TABLE webhooks(
  seq BIGSERIAL PRIMARY KEY,
  request_id TEXT NOT NULL,
  url TEXT NOT NULL,
  user_id TEXT NOT NULL,
  body TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at BIGINT NOT NULL,
  delivered_at BIGINT,
  failed_at BIGINT,
  last_error TEXT);
CREATE INDEX webhooks_due ON webhooks(next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhooks_request ON webhooks(request_id);

CREATE TABLE upload_tokens(
  token TEXT PRIMARY KEY,
  file_id TEXT,
  key_id TEXT,
  expires_at BIGINT NOT NULL);
