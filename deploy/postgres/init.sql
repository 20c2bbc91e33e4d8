-- Run once by the postgres image on an empty data directory
-- (mounted in /docker-entrypoint-initdb.d/). One database per service;
-- `crm migrate all` also creates any that are missing, then migrates them.
CREATE DATABASE crm_customers;
CREATE DATABASE crm_tags;
CREATE DATABASE crm_registration;
CREATE DATABASE crm_notifications;
CREATE DATABASE crm_automation;
