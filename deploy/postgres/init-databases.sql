-- Runs once, when the PostgreSQL volume is first created (docker-entrypoint-initdb.d).
-- One database and one owner role per service: no service can read another's
-- tables (ARCHITECTURE.md, "No service reads another's tables or keys").
-- These passwords are for local docker compose only; they match DATABASE_URL in
-- docker-compose.yml. Production databases are provisioned outside this repo.

CREATE ROLE identity LOGIN PASSWORD 'identity';
CREATE DATABASE identity OWNER identity;

CREATE ROLE otp LOGIN PASSWORD 'otp';
CREATE DATABASE otp OWNER otp;

CREATE ROLE notifier LOGIN PASSWORD 'notifier';
CREATE DATABASE notifier OWNER notifier;

CREATE ROLE delivery LOGIN PASSWORD 'delivery';
CREATE DATABASE delivery OWNER delivery;

-- Only the owner may connect (PUBLIC gets CONNECT by default).
REVOKE CONNECT ON DATABASE identity FROM PUBLIC;
REVOKE CONNECT ON DATABASE otp FROM PUBLIC;
REVOKE CONNECT ON DATABASE notifier FROM PUBLIC;
REVOKE CONNECT ON DATABASE delivery FROM PUBLIC;
