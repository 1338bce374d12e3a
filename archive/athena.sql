-- The outcome archive as an Amazon Athena table (docs/archive.md): one row
-- per archived outcome, the columns the outcome JSON's fields (a test keeps
-- them equal to remediation.Outcome's), partitioned by the date folders
-- with partition projection, so no crawler or MSCK REPAIR is needed.
--
-- Replace ARCHIVE_BUCKET with the bucket (Terraform output archive_bucket;
-- ARCHIVE_BUCKET's bucket/prefix for a local run's bucket) in LOCATION and
-- storage.location.template. Firehose's .gz files and the local writers'
-- .jsonl files are both read (Athena decompresses by the .gz suffix).
-- before and after are JSON objects: read them with json_extract. The
-- times are RFC 3339 strings: from_iso8601_timestamp(completedAt).
CREATE EXTERNAL TABLE IF NOT EXISTS outcomes (
  `remediator` string,
  `rule` string,
  `resourceType` string,
  `resourceId` string,
  `account` string,
  `region` string,
  `action` string,
  `reason` string,
  `before` string,
  `after` string,
  `durationMs` bigint,
  `error` string,
  `eventId` string,
  `trigger` string,
  `actor` string,
  `actedAs` string,
  `detectedAt` string,
  `completedAt` string
)
PARTITIONED BY (`day` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
LOCATION 's3://ARCHIVE_BUCKET/outcomes/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.day.type' = 'date',
  'projection.day.format' = 'yyyy/MM/dd',
  'projection.day.range' = '2024/01/01,NOW',
  'projection.day.interval' = '1',
  'projection.day.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://ARCHIVE_BUCKET/outcomes/${day}/'
);
