-- The registers behind example-org.yaml's kyc-consents and kyc-activity.
-- Build the database the policy reads with:
--   sqlite3 policies/example-org/kyc-registers.db < policies/example-org/kyc-registers.sql
-- (tests/policy/test_packs.py checks the shipped .db holds exactly this.)

-- One row per consent event; the latest grant per customer decides.
CREATE TABLE biometric_consents (
    customer_id  TEXT NOT NULL,
    purpose      TEXT NOT NULL,          -- the scope a consent was given for
    granted_at   TEXT NOT NULL,          -- ISO 8601 (UTC when no offset is given)
    withdrawn_at TEXT,                   -- NULL while the consent stands
    expires_at   TEXT,                   -- NULL: no expiry
    method       TEXT                    -- how it was recorded (e-signature, checkbox …)
);

-- The last interaction per customer (BIPA: 3 years from the last interaction).
CREATE TABLE customer_activity (
    customer_id         TEXT PRIMARY KEY,
    last_interaction_at TEXT NOT NULL
);

INSERT INTO biometric_consents VALUES
    ('C00000001', 'identity-verification', '2024-02-01T10:15:00Z', NULL, NULL, 'e-signature'),
    ('C00000002', 'identity-verification', '2023-05-12T08:00:00Z', '2025-01-20T09:30:00Z', NULL, 'e-signature'),
    ('C00000003', 'marketing', '2024-11-03T17:45:00Z', NULL, NULL, 'checkbox'),
    ('C00000004', 'identity-verification', '2022-01-10T12:00:00Z', NULL, '2025-01-10T12:00:00Z', 'e-signature');

INSERT INTO customer_activity VALUES
    ('C00000001', '2025-10-02T08:12:00Z'),
    ('C00000002', '2025-01-20T09:30:00Z'),
    ('C00000003', '2024-11-03T17:45:00Z'),
    ('C00000004', '2022-03-01T14:00:00Z');
