-- The latest error-budget state of each SLO of each service, from vigil.budgets.v1 (BudgetStateChanged):
-- the budget policy reads the state of an incident's service when the incident opens.
CREATE TABLE budget_state (
    service text NOT NULL,
    slo text NOT NULL,
    state text NOT NULL CHECK (state IN ('healthy', 'burning', 'exhausted')),
    remaining_fraction double precision NOT NULL,
    since timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (service, slo)
);

-- Why the policy snapshot differs from the configuration's (the budget policy's adjustments), for the
-- escalation view; NULL: the configuration's policy as it is.
ALTER TABLE incident ADD COLUMN budget_note text;
