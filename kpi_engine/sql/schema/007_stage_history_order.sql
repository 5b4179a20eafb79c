-- The CRM's own order of stage-history rows (issue 14, case C-15): two stage changes can share one
-- timestamp (Salesforce OpportunityHistory.CreatedDate has whole seconds; HubSpot dealstage
-- versions can share a millisecond). crm_order breaks the tie: of a deal's rows at one instant,
-- the greatest crm_order (compared as text, byte order) was entered last.
--   Salesforce: the OpportunityHistory row Id (18 characters; Ids grow with the insert order).
--   HubSpot: the version's position in propertiesWithHistory counted from the oldest, as 10
--            zero-padded digits ('0000000000' = the oldest; the API lists newest first).
-- NULL for rows stored before this migration (and sources without an order): they sort before
-- keyed rows of the same instant, by stage name among themselves; sync --full-refresh fills it.
ALTER TABLE stage_history ADD COLUMN crm_order VARCHAR;
