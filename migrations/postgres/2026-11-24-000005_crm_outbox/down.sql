DROP TABLE crm_outbox;
