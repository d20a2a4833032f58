DROP TABLE alert_deliveries;
DROP TABLE alerts;
DROP TABLE alert_channels;
DROP TABLE alert_rules;
DROP TABLE alert_settings;
