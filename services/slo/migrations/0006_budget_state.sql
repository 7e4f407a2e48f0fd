-- The error-budget state last published per SLO of a service (BudgetStateChanged on
-- vigil.budgets.v1): the evaluator publishes only when a state differs from this row, in the same
-- transaction as the row's update, so a change is published once.
CREATE TABLE budget_state (
    service text NOT NULL,
    slo text NOT NULL,
    state text NOT NULL CHECK (state IN ('healthy', 'burning', 'exhausted')),
    since timestamptz NOT NULL,
    PRIMARY KEY (service, slo)
);
