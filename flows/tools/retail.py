"""Tool implementations of the ``retail`` flow (flows/retail.toml).

Ported from openai/openai-realtime-agents ``src/app/agentConfigs/customerServiceRetail/`` (MIT licence): the
same mock data the original ``execute`` functions return. Every tool is a plain function that takes the
model's arguments as keyword arguments and returns a JSON-serialisable dict. Parameter names follow the
tools' JSON Schemas (hence ``phoneNumber``, ``itemCategory``, ``userDesiredAction``).
"""

from __future__ import annotations

import copy
import re
from typing import Any

# --- authentication -------------------------------------------------------------------------------------


def authenticate_user_information(
    *, phone_number: str, date_of_birth: str, last_4_digits: str, last_4_digits_type: str
) -> dict[str, Any]:
    """Verify the caller. The original always succeeds (``{success: true}``).

    Switchboard addition: the result also carries ``user_id`` (the context key this tool ``sets``), derived
    from the phone number's digits so the same caller always gets the same id.
    """
    digits = re.sub(r"\D", "", phone_number)
    return {"success": True, "user_id": f"user-{digits or 'unknown'}"}


def save_or_update_address(*, phone_number: str, new_address: dict[str, str]) -> dict[str, Any]:
    """Save the caller's address (mock: always succeeds, as in the original)."""
    return {"success": True}


def update_user_offer_response(*, phone: str, offer_id: str, user_response: str) -> dict[str, Any]:
    """Log the caller's answer to the loyalty-programme offer (mock: always succeeds, as in the original)."""
    return {"success": True}


# --- returns --------------------------------------------------------------------------------------------

ORDERS: list[dict[str, Any]] = [
    {
        "order_id": "SNP-20230914-001",
        "order_date": "2024-09-14T09:30:00Z",
        "delivered_date": "2024-09-16T14:00:00Z",
        "order_status": "delivered",
        "subtotal_usd": 409.98,
        "total_usd": 471.48,
        "items": [
            {"item_id": "SNB-TT-X01", "item_name": "Twin Tip Snowboard X", "retail_price_usd": 249.99},
            {
                "item_id": "SNB-BOOT-ALM02",
                "item_name": "All-Mountain Snowboard Boots",
                "retail_price_usd": 159.99,
            },
        ],
    },
    {
        "order_id": "SNP-20230820-002",
        "order_date": "2023-08-20T10:15:00Z",
        "delivered_date": None,
        "order_status": "in_transit",
        "subtotal_usd": 339.97,
        "total_usd": 390.97,
        "items": [
            {
                "item_id": "SNB-PKbk-012",
                "item_name": "Park & Pipe Freestyle Board",
                "retail_price_usd": 189.99,
            },
            {"item_id": "GOG-037", "item_name": "Mirrored Snow Goggles", "retail_price_usd": 89.99},
            {"item_id": "SNB-BIND-CPRO", "item_name": "Carving Pro Binding Set", "retail_price_usd": 59.99},
        ],
    },
]

POLICY = """
At Snowy Peak Boards, we believe in transparent and customer-friendly policies to ensure you have a hassle-free experience. Below are our detailed guidelines:

1. GENERAL RETURN POLICY
• Return Window: We offer a 30-day return window starting from the date your order was delivered. 
• Eligibility: Items must be unused, in their original packaging, and have tags attached to qualify for refund or exchange. 
• Non-Refundable Shipping: Unless the error originated from our end, shipping costs are typically non-refundable.

2. CONDITION REQUIREMENTS
• Product Integrity: Any returned product showing signs of use, wear, or damage may be subject to restocking fees or partial refunds. 
• Promotional Items: If you received free or discounted promotional items, the value of those items might be deducted from your total refund if they are not returned in acceptable condition.
• Ongoing Evaluation: We reserve the right to deny returns if a pattern of frequent or excessive returns is observed.

3. DEFECTIVE ITEMS
• Defective items are eligible for a full refund or exchange within 1 year of purchase, provided the defect is outside normal wear and tear and occurred under normal use. 
• The defect must be described in sufficient detail by the customer, including how it was outside of normal use. Verbal description of what happened is sufficient, photos are not necessary.
• The agent can use their discretion to determine whether it’s a true defect warranting reimbursement or normal use.
## Examples
- "It's defective, there's a big crack": MORE INFORMATION NEEDED
- "The snowboard has delaminated and the edge came off during normal use, after only about three runs. I can no longer use it and it's a safety hazard.": ACCEPT RETURN

4. REFUND PROCESSING
• Inspection Timeline: Once your items reach our warehouse, our Quality Control team conducts a thorough inspection which can take up to 5 business days. 
• Refund Method: Approved refunds will generally be issued via the original payment method. In some cases, we may offer store credit or gift cards. 
• Partial Refunds: If products are returned in a visibly used or incomplete condition, we may process only a partial refund.

5. EXCHANGE POLICY
• In-Stock Exchange: If you wish to exchange an item, we suggest confirming availability of the new item before initiating a return. 
• Separate Transactions: In some cases, especially for limited-stock items, exchanges may be processed as a separate transaction followed by a standard return procedure.

6. ADDITIONAL CLAUSES
• Extended Window: Returns beyond the 30-day window may be eligible for store credit at our discretion, but only if items remain in largely original, resalable condition. 
• Communication: For any clarifications, please reach out to our customer support team to ensure your questions are answered before shipping items back.

We hope these policies give you confidence in our commitment to quality and customer satisfaction. Thank you for choosing Snowy Peak Boards!
"""  # noqa: E501, W291 - verbatim policy text (long lines, trailing spaces)

# The original sends these to o4-mini (Responses API) together with the last 10 transcript messages.
ELIGIBILITY_SYSTEM_PROMPT = (
    "You are an an expert at assessing the potential eligibility of cases based on how well the case "
    "adheres to the provided guidelines. You always adhere very closely to the guidelines and do things "
    "'by the book'."
)
ELIGIBILITY_USER_PROMPT = """Carefully consider the context provided, which includes the request and relevant policies and facts, and determine whether the user's desired action can be completed according to the policies. Provide a concise explanation or justification. Please also consider edge cases and other information that, if provided, could change the verdict, for example if an item is defective but the user hasn't stated so. Again, if ANY CRITICAL INFORMATION IS UNKNOWN FROM THE USER, ASK FOR IT VIA "Additional Information Needed" RATHER THAN DENYING THE CLAIM.

<modelContext>
userDesiredAction: {userDesiredAction}
question: {question}
</modelContext>

<conversationContext>
{conversation}
</conversationContext>

<output_format>
# Rationale
// Short description explaining the decision

# User Request
// The user's desired outcome or action

# Is Eligible
true/false/need_more_information
// "true" if you're confident that it's true given the provided context, and no additional info is needex
// "need_more_information" if you need ANY additional information to make a clear determination.

# Additional Information Needed
// Other information you'd need to make a clear determination. Can be "None"

# Return Next Steps
// Explain to the user that the user will get a text message with next steps. Only if is_eligible=true, otherwise "None". Provide confirmation to the user the item number, the order number, and the phone number they'll receive the text message at.
</output_format>
"""  # noqa: E501 - verbatim prompt text

_CLEAR_DEFECT = ("delaminat", "edge came off", "came apart", "snapped", "safety hazard", "normal use")
_VAGUE_DEFECT = ("defect", "crack", "broken", "damage", "faulty")


def lookup_orders(*, phoneNumber: str) -> dict[str, Any]:
    """The caller's orders (the original returns the same two sample orders for any phone number)."""
    return {"orders": copy.deepcopy(ORDERS)}


def retrieve_policy(*, region: str, itemCategory: str) -> dict[str, Any]:
    """The store's return policy (the same text for every region and category, as in the original)."""
    return {"policy": POLICY}


def check_eligibility_and_possibly_initiate_return(
    *, userDesiredAction: str, question: str
) -> dict[str, Any]:
    """Offline stand-in for the original's o4-mini escalation (``{result: <markdown verdict>}``).

    The original asks o4-mini (``ELIGIBILITY_SYSTEM_PROMPT`` / ``ELIGIBILITY_USER_PROMPT``) to judge the case
    against the policy. This deterministic version applies the policy's own worked examples: a detailed
    defect under normal use is accepted; a bare "it's defective / cracked" needs more information; anything
    else needs a description of the issue first. It returns the original's output format.
    """
    text = f"{userDesiredAction} {question}".lower()
    if any(k in text for k in _CLEAR_DEFECT):
        eligible, rationale, needed = (
            "true",
            "The item shows a defect outside normal wear and tear that occurred under normal use, within "
            "1 year of purchase; defective items are eligible for a full refund or exchange.",
            "None",
        )
        next_steps = (
            "The user will get a text message with next steps at the phone number on their order. Confirm "
            "the item number, the order number, and that phone number with the user."
        )
    elif any(k in text for k in _VAGUE_DEFECT):
        eligible, rationale, needed, next_steps = (
            "need_more_information",
            "A defect is claimed but not described in enough detail to tell a true defect from normal wear.",
            "A description of what happened to the item and how it occurred during normal use.",
            "None",
        )
    else:
        eligible, rationale, needed, next_steps = (
            "need_more_information",
            "It is not yet clear whether the item is unused and within the 30-day window, or defective.",
            "Whether the item is unused with tags and original packaging, or a description of the defect.",
            "None",
        )
    result = (
        f"# Rationale\n{rationale}\n\n"
        f"# User Request\n{userDesiredAction}\n\n"
        f"# Is Eligible\n{eligible}\n\n"
        f"# Additional Information Needed\n{needed}\n\n"
        f"# Return Next Steps\n{next_steps}\n"
    )
    return {"result": result}


# --- sales ----------------------------------------------------------------------------------------------


def _sale(item_id: int, kind: str, name: str, retail: int, sale: int, pct: int) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "type": kind,
        "name": name,
        "retail_price_usd": retail,
        "sale_price_usd": sale,
        "sale_discount_pct": pct,
    }


SALE_ITEMS: list[dict[str, Any]] = [
    _sale(101, "snowboard", "Alpine Blade", 450, 360, 20),
    _sale(102, "snowboard", "Peak Bomber", 499, 374, 25),
    _sale(201, "apparel", "Thermal Jacket", 120, 84, 30),
    _sale(202, "apparel", "Insulated Pants", 150, 112, 25),
    _sale(301, "boots", "Glacier Grip", 250, 200, 20),
    _sale(302, "boots", "Summit Steps", 300, 210, 30),
    _sale(401, "accessories", "Goggles", 80, 60, 25),
    _sale(402, "accessories", "Warm Gloves", 60, 48, 20),
]


def lookup_new_sales(*, category: str) -> dict[str, Any]:
    """Items on sale in ``category`` (or all for ``"any"``), biggest discount first, as in the original."""
    items = [dict(i) for i in SALE_ITEMS if category == "any" or i["type"] == category]
    items.sort(key=lambda i: i["sale_discount_pct"], reverse=True)  # stable, like Array.prototype.sort
    return {"sales": items}


def add_to_cart(*, item_id: str) -> dict[str, Any]:
    """Add an item to the cart (mock: always succeeds, as in the original)."""
    return {"success": True}


def checkout(*, item_ids: list[str], phone_number: str) -> dict[str, Any]:
    """Start checkout (mock: the original's fixed checkout URL)."""
    return {"checkoutUrl": "https://example.com/checkout"}
