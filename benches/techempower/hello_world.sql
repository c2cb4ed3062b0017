-- The TechEmpower schema in the current database: `world` (10,000 rows) and `fortune` (12 rows).
-- Idempotent: tables are created when missing and only missing ids are inserted, so running it
-- again leaves exactly 10,000 and 12 rows. Plain statements, no psql meta-commands: `cargo xtask
-- techempower` runs this file as it is. No statement has a semicolon inside a literal (fortune 11
-- spells its own with chr(59)), so splitting the file on semicolons is safe.

CREATE TABLE IF NOT EXISTS world (
    id integer PRIMARY KEY,
    randomnumber integer NOT NULL DEFAULT 0
);

INSERT INTO world (id, randomnumber)
SELECT id, least(floor(random() * 10000 + 1), 10000)::integer
FROM generate_series(1, 10000) AS id
ON CONFLICT (id) DO NOTHING;

CREATE TABLE IF NOT EXISTS fortune (
    id integer PRIMARY KEY,
    message varchar(2048) NOT NULL
);

INSERT INTO fortune (id, message) VALUES
    (1, 'fortune: No such file or directory'),
    (2, 'A computer scientist is someone who fixes things that aren''t broken.'),
    (3, 'After enough decimal places, nobody gives a damn.'),
    (4, 'A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1'),
    (5, 'A computer program does what you tell it to do, not what you want it to do.'),
    (6, 'Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen'),
    (7, 'Any program that runs right is obsolete.'),
    (8, 'A list is only as strong as its weakest link. — Donald Knuth'),
    (9, 'Feature: A bug with seniority.'),
    (10, 'Computers make very fast, very accurate mistakes.'),
    (11, '<script>alert("This should not be displayed in a browser alert box.")' || chr(59) || '</script>'),
    (12, 'フレームワークのベンチマーク')
ON CONFLICT (id) DO NOTHING;
