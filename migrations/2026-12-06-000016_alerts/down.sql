DROP TABLE alert_deliveries;
DROP TRIGGER alert_rules_close_alerts ON alert_rules;
DROP FUNCTION alert_rules_close_alerts();
DROP TABLE alerts;
DROP TABLE alert_channels;
DROP TABLE alert_rules;
DROP TABLE alert_settings;
