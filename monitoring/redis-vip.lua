-- redis-vip: VIP.STATUS as numbers, for prometheus-redis-exporter's -script option.
--
--   prometheus-redis-exporter -redis.addr redis://127.0.0.1:6379 \
--       -script /usr/share/redis-vip/redis-vip.lua
--
-- The exporter runs this with EVAL on every scrape and exports each key/value pair it returns
-- as redis_script_values{key="<key>"} <value>. Every value must parse as a number (one that
-- does not fails the whole script), so only VIP.STATUS's integer fields are passed on, each
-- as "vip_<field>", plus a few derived from its text fields:
--
--   vip_loaded            1 when VIP.STATUS answered, 0 when it failed (module not loaded, or
--                         the exporter's ACL user may not run it): the other keys are then absent
--   vip_role_master       1 when the module last saw the role master
--   vip_error_active      passed through from VIP.STATUS; derived from state == error for
--                         builds that do not report it (last_error itself is kept after a
--                         fault clears, so a non-empty last_error is no fault in force)
--
-- The integer fields of 0.2.0: version_num, state_code (0 idle, 1 standby, 2 holding,
-- 3 error), mode_code (0 basic, 1 sentinel), holding, last_transition_ms,
-- last_claim_latency_us, announcements_sent, claims, releases, errors, sentinels_known,
-- sentinels_reachable, sentinels_confirming, quorum, lease_ms, lease_remaining_ms, fences,
-- conflicts, inbox_dropped, events_dropped; since then reannounced, error_active,
-- last_error_ms; with the failsafe (0.2.0) failsafe, failsafe_since_ms, witnesses,
-- witnesses_confirmed, witness_lease_ms, witnessed_until_ms. Integer fields added by
-- later versions pass through by themselves. Alert rules that use them: redis-vip-rules.yml; recipe: README.md.
--
-- Cost: one O(1) module command per scrape; no key is read or written.

-- redis.pcall: an error (unknown command, no permission) comes back as {err = ...}
local reply = redis.pcall('VIP.STATUS')
if type(reply) ~= 'table' or reply.err then
    return {'vip_loaded', '0'}
end

local out = {'vip_loaded', '1'}
local text = {}
local has_error_active = false
for i = 1, #reply - 1, 2 do
    local key, value = reply[i], reply[i + 1]
    -- VIP.STATUS names its fields with status replies, which reach Lua as {ok = "name"}
    if type(key) == 'table' then
        key = key.ok or key.err
    end
    if type(key) == 'string' then
        if type(value) == 'number' then
            if key == 'error_active' then
                has_error_active = true
            end
            out[#out + 1] = 'vip_' .. key
            out[#out + 1] = tostring(value)
        elseif type(value) == 'string' then
            text[key] = value
        end
    end
end

out[#out + 1] = 'vip_role_master'
out[#out + 1] = (text.role == 'master') and '1' or '0'
if not has_error_active then
    out[#out + 1] = 'vip_error_active'
    out[#out + 1] = (text.state == 'error') and '1' or '0'
end
return out
