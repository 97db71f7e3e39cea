void mt_agent_placeholder() {}
