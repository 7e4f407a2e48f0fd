-- Counts the evaluator's ticks (any replica). A replica keeps the sums of completed hours between
-- its ticks only while no other replica ticked in between (it would not have seen the hours that
-- one re-sliced); see ticker.LongWindowCache.
CREATE TABLE evaluator_generation (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    generation bigint NOT NULL
);
INSERT INTO evaluator_generation (id, generation) VALUES (true, 0);

