"""``zh-shop``: a **synthetic** bilingual Chinese shop (generated products, simulated shoppers).

Nothing here is real shop data: the products are composed by this module from word lists, and the
events come from simulated shoppers. It is deterministic for a given seed, needs no download and
builds in under a second. Use it to exercise Chinese text, cold items and a purchase funnel;
never quote its numbers as results on real shoppers (:data:`SYNTHETIC_NOTE` says so for the CLI).

**Catalog** (:func:`zh_catalog`): 15 categories × 24 products = 360 products. Each category has
product kinds (跑步鞋, 保温杯, 耳机, ...) and parallel Chinese/English word lists: invented
brand names, audiences, and per kind its features (the title adjective: 碳板竞速, 透明气囊, ...),
specs (capacity, size, age, ...), materials, highlights, variants (colour, flavour, skin type,
piece count, ...) and uses. The parts that must agree are tied together, not drawn
independently: each **feature** brings its own materials, highlights, uses and price multiplier
where it needs them, and may allow only some specs, audiences or variants (碳板竞速跑步鞋: a
carbon-fibre plate, for racing, about twice the price; 透明气囊 phone cases only in clear finishes;
清爽控油面霜 only for oily or combination skin; 大容量 never in the smallest size); a **spec**
may fix the variants and uses (a 直径30厘米 chopping board is 圆形, a 1.2米床 bedding set is for
dorms, a 2-6岁 block set has 60 or 120 bricks); an **audience** may fix the uses (学生 cups are
for school). Whatever a feature, spec or audience leaves open falls back to the kind's list, then
the category's. A product is one seeded draw of these parts; no two products of a category have
the same brand, kind, feature, audience and spec, so titles are unique and products of a category
share some parts but not all:

* title: ``"跃步 轻便透气男士跑步鞋"``, ``"暖居 316不锈钢真空保温杯 500毫升"``;
* description: ``"采用{material}，{highlight}。{variant}，适合{use}。"``;
* price in CNY: ``(lo + (hi - lo) · q) × feature multiplier × spec factor`` with ``q`` from
  Beta(1.5, 2.5) over the kind's range ``[lo, hi]`` and the spec factor growing from 1 for the
  smallest spec to ``1 + spec_price`` for the biggest; rounded to end in 9 or .9;
* attributes JSON: ``product_type`` (the kind's Chinese noun), 品牌, the variant (颜色, 口味, ...),
  and 适用人群/规格/材质 where the product has them; about 93% of products are in stock.

Every Chinese part has an English twin, so a seeded third of the products (8 per category, 120 in
all) also has an English title and description composed from the same parts: a faithful
translation of that product (:func:`zh_translations`; "Made with {material}; ..." or, for a part
such as a chip or a liner, "Features {material}; ...").

**New products**: a seeded 15% (54) are launched inside the last quarter of the period; their
``updated_at`` is the launch time and no event touches them before it, so a time split has cold
items that only their text can recommend. The other products' ``updated_at`` is 7–365 days before
the period starts.

**Shoppers** (:func:`zh_shop`): users ``u0001``... each have hidden tastes (:func:`zh_tastes`
lists them): 1–3 favourite categories with Dirichlet weights (some categories draw more
shoppers), a price sensitivity ``s`` in [0, 1] (Beta(2, 2)) and, **per favourite category**, a
preferred product kind (跑步鞋 or 篮球鞋 or 徒步鞋), a preferred audience (男士/女士/儿童/...,
or the unmarked one; it matters only where the category has audiences) and a price tier (the
cheapest, middle or dearest third of each kind; sensitive shoppers lean to the cheaper tiers).
Items have Zipf-like popularity within their kind, and new items get a novelty boost once
launched. A pick from a favourite category weights each launched product by its popularity ×
``(price / kind median) ** (-1.5 s)`` × 4 if it is of the preferred kind × 2 if it is for the
preferred audience × 1.5 if it is in the preferred tier; 10% of picks browse another category,
without tastes. Views of the preferred kind are also carted more often (×1.4, other kinds of a
favourite category ×0.7, other categories ×0.5), so about half of the views and two thirds of
the purchases in a favourite category are of the preferred kind (a third to a quarter without
tastes) and the rest explore. Kind and audience are in the title, so text beyond the category
label tells shoppers apart. Out-of-stock products are picked 10 times less often (a shopper can
still land on one: 1–2% of views) and are never carted or bought.

Shoppers arrive uniformly over ``days`` days from 2026-09-01 00:00 Asia/Shanghai (UTC+8, Unix
seconds) and return for 1 + Poisson(3) sessions, about four days apart; a session starts at an
hour drawn from a daily rhythm peaking at 21:00. A session has Geometric views (at least 1, mean
5, at most 30; it ends early if the category has nothing unseen left), 20–180 s apart, never the
same item twice: 30% of views are of an item similar to the last one (same category, weighted by
shared kind, feature, brand and audience), the rest are picks; 30% of views follow a ``click`` on
the item's listing. A view of an in-stock item leads to ``add_to_cart`` with about 10%
probability (times the affinity above, less for price-sensitive shoppers on items dear for their
kind), and at the session's end about 40% of carted items are bought (``purchase``), so
purchases are about 4% of views. Session ids are ``"<user_id>-s<k>"``; events after the period
are dropped; the frame is sorted by ``(user_id, ts)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl

from recsys.errors import InvalidInputError
from recsys.store.schema import EVENT_SCHEMA, ITEM_SCHEMA

SYNTHETIC_NOTE = (
    "zh-shop is synthetic: generated products and simulated shoppers, not a real shop's data"
)

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")  # no daylight saving time since 1991
START = datetime(2026, 9, 1, tzinfo=SHANGHAI)
START_TS = START.timestamp()  # 1_788_192_000.0: 2026-09-01 00:00 Asia/Shanghai
DAY = 86_400.0

PRODUCTS_PER_CATEGORY = 24  # × 15 categories = 360 products
TRANSLATED_PER_CATEGORY = 8  # a third of each category gets an English translation
NEW_SHARE = 0.15  # products launched inside the last quarter of the period
NEW_WINDOW = (0.76, 0.94)  # launch times, as fractions of the period
IN_STOCK_SHARE = 0.93

# shopper model (see the module docstring)
EXPLORE = 0.10  # chance that a pick comes from a non-favourite category
SIMILAR = 0.30  # chance that a view is of an item similar to the previous one
CLICK_FIRST = 0.30  # chance that a view follows a click on the item's listing
CART = 0.10  # base chance that a view of a favourite-category item is added to the cart
CART_EXPLORE = 0.5  # cart chance multiplier outside the favourite categories
CART_TASTE = 1.4  # ... for the preferred kind of a favourite category
CART_OTHER_KIND = 0.7  # ... for the other kinds of a favourite category
BUY = 0.40  # base chance that a carted item is bought at the end of the session
SESSIONS_MEAN = 3.0  # sessions per shopper: 1 + Poisson(SESSIONS_MEAN)
SESSION_GAP_DAYS = 4.0  # mean days between a shopper's sessions (exponential)
VIEWS_MEAN = 5.0  # views per session (geometric)
ZIPF = 1.2  # exponent of the popularity ranks within a kind
NOVELTY = 2.5  # popularity multiplier of a product launched inside the period
TASTE_KIND = 4.0  # pick weight multiplier of the shopper's preferred kind (per category)
TASTE_AUDIENCE = 2.0  # ... of the preferred audience
TASTE_TIER = 1.5  # ... of the preferred price tier
OUT_OF_STOCK_VIEW = 0.1  # pick weight multiplier of an out-of-stock product (never carted)
PRICE_TIERS = ("budget", "mid", "premium")  # thirds of each kind's products by price
# relative chance that a session starts in each hour of the day (local time): peak 21:00
HOUR_WEIGHTS = (
    0.6, 0.3, 0.15, 0.1, 0.1, 0.15, 0.3, 0.7, 1.1, 1.3, 1.4, 1.5,
    1.8, 1.6, 1.4, 1.4, 1.5, 1.7, 2.0, 2.6, 3.2, 3.5, 3.0, 1.6,
)  # fmt: skip


@dataclass(frozen=True)
class Term:
    """One piece of product text in Chinese and its English translation.

    ``lead`` is only for materials: how the English description introduces it (``"Made with"``
    when empty; ``"Features"`` for a part such as a chip, a liner or a formula).
    """

    zh: str
    en: str
    lead: str = ""


def _t(text: str) -> Term:
    """``"zh|en"`` or ``"zh|en|Lead"``."""
    zh, en, *lead = text.split("|")
    return Term(zh, en, *lead)


def _ts(*texts: str) -> tuple[Term, ...]:
    return tuple(_t(p) for p in texts)


NO_TERM = Term("", "")
UsesFor = tuple[tuple[str, tuple[Term, ...]], ...]  # audience (Chinese) -> its uses


@dataclass(frozen=True)
class Feature:
    """A kind's title adjective and the parts that must agree with it (empty: the kind's)."""

    name: Term  # 碳板竞速 | carbon-plate racing
    price: float = 1.0  # price multiplier
    materials: tuple[Term, ...] = ()
    highlights: tuple[Term, ...] = ()
    uses: tuple[Term, ...] = ()
    variants: tuple[Term, ...] = ()
    specs: tuple[str, ...] = ()  # the kind's specs it comes in, by their Chinese (empty: all)
    audiences: tuple[str, ...] | None = None  # the audiences it comes in, by Chinese (None: all)


def _f(
    name: str,
    price: float = 1.0,
    *,
    m: tuple[str, ...] = (),
    h: tuple[str, ...] = (),
    u: tuple[str, ...] = (),
    v: tuple[str, ...] = (),
    s: tuple[str, ...] = (),
    a: tuple[str, ...] | None = None,
) -> Feature:
    """A feature: materials, highlights, uses and variants as ``"zh|en"``; specs, audiences zh."""
    return Feature(_t(name), price, _ts(*m), _ts(*h), _ts(*u), _ts(*v), s, a)


@dataclass(frozen=True)
class Kind:
    """A kind of product within a category; empty parts fall back to the category's."""

    name: Term  # the product noun: 跑步鞋 | running shoes
    price: tuple[float, float]  # typical price range in CNY (before the feature's multiplier)
    features: tuple[Feature, ...]  # title adjectives, one per product
    specs: tuple[Term, ...] = ()  # size/capacity/age shown after the title, smallest first
    spec_price: float = 0.3  # price premium of the biggest spec over the smallest
    spec_variants: tuple[tuple[Term, ...], ...] = ()  # per spec: the variants it comes in
    spec_uses: tuple[tuple[Term, ...], ...] = ()  # per spec: its uses
    uses: tuple[Term, ...] = ()
    materials: tuple[Term, ...] = ()
    highlights: tuple[Term, ...] = ()
    audiences: tuple[Term, ...] = ()
    audience_uses: UsesFor = ()
    variants: tuple[Term, ...] = ()
    variant_key: Term | None = None
    variant_fmt: Term | None = None


@dataclass(frozen=True)
class Category:
    """A shop category: its kinds and the word lists its products are composed from."""

    name: Term
    brands: tuple[Term, ...]  # invented brand names
    kinds: tuple[Kind, ...]
    materials: tuple[Term, ...] = ()
    highlights: tuple[Term, ...] = ()
    uses: tuple[Term, ...] = ()
    audiences: tuple[Term, ...] = (NO_TERM,)
    audience_uses: UsesFor = ()
    variants: tuple[Term, ...] = ()
    variant_key: Term = Term("颜色", "colour")
    variant_fmt: Term = Term("{}款", "in {}")  # how the variant reads in the description


def _uses_for(audience: str, *uses: str) -> tuple[str, tuple[Term, ...]]:
    return audience, _ts(*uses)


# recurring parts
_MESH = "透气网布鞋面|breathable mesh uppers"
_KNIT = "飞织一体鞋面|one-piece knit uppers"
_OUTSOLE = "耐磨橡胶大底|hard-wearing rubber outsoles"
_AIRY = "鞋身轻盈、透气不闷脚|they are light and airy and keep feet cool"
_JOG = "日常慢跑和健身训练|everyday jogging and gym workouts"
_HIKE = "登山徒步和户外旅行|mountain hikes and outdoor trips"
_COURT = "室内外篮球实战|indoor and outdoor basketball games"
_STEEL_LINER = "316不锈钢内胆|a 316 stainless steel liner|Features"
_TRITAN = "食品级Tritan材料|food-grade Tritan plastic"
_BPA_FREE = "不含双酚A的材料|BPA-free materials"
_BT_CHIP = "蓝牙5.3芯片|a Bluetooth 5.3 chip|Features"
_RICH_BASS = "低音浑厚、人声清晰|the bass is rich and vocals are clear"
_MAGNET = "内置强磁圈|a built-in magnet ring|Features"
_COTTON = "纯棉面料|pure cotton fabric"
_LINEN = "亚麻混纺面料|a linen-blend fabric"
_WOOL = "羊毛混纺面料|a wool-blend fabric"
_STRETCH_KNIT = "弹力针织面料|stretch knit fabric"
_SLIMMING = "腰部设计遮肉显瘦|the waist design is slimming"
_LASTING = "汤色清亮、回甘持久|the liquor is clear with a lasting sweet aftertaste"
_MELLOW = "滋味醇厚顺滑|the taste is mellow and smooth"
_TIN, _GIFT_BOX = "罐装|packed in a tin", "礼盒装|in a gift box"
_TOGETHER = "亲子互动|playing together with parents"
_BIRTHDAY = "送生日礼物|birthday presents"
_3C = "通过3C认证|it is 3C certified"
_DRY, _OILY = "干性肌肤|dry", "油性肌肤|oily"
_COMBI, _SENSITIVE = "混合性肌肤|combination", "敏感肌肤|sensitive"
_CENTELLA = "积雪草提取物|centella asiatica extract"
_CERAMIDE = "神经酰胺复合配方|a ceramide complex formula|Features"
_PLANTS = "植物萃取精华|plant extracts"
_FRESH_FEEL = "上脸清爽不黏腻|it feels fresh, not sticky, on the face"
_GENTLE = "温和不刺激|it is gentle and non-irritating"
_UV_FILTERS = "新一代防晒剂|new-generation UV filters"
_COOKING = "家庭日常烹饪|everyday home cooking"
_EVEN_HEAT = "受热均匀、不易糊锅|it heats evenly and food rarely sticks"
_CARBON_STEEL = "高碳不锈钢|high-carbon stainless steel"
_BAMBOO = "天然竹材|natural bamboo"
_RECTANGLE = "长方形|rectangular"
_NYLON = "尼龙面料|nylon fabric"
_LEATHER = "头层牛皮|top-grain leather"
_PC_SHELL = "PC箱体|a polycarbonate shell|Features"
_BENTONITE = "天然膨润土|natural bentonite clay"
_PP_COTTON = "高弹PP棉|springy PP cotton"
_CORRUGATED = "高密度瓦楞纸|high-density corrugated cardboard"
_SISAL = "天然剑麻|natural sisal"
_ORIGINAL = "原味|original"
_BEDROOM = "卧室日常使用|everyday bedroom use"
_SOFT_NO_PILL = "亲肤透气、不起球|it is soft, breathable and does not pill"
_NECK = "贴合颈椎曲线|it follows the curve of the neck"
_STUDY = "学习考试|study and exams"
_IRIDIUM = "铱金笔尖|an iridium-tipped nib|Features"
_PIGMENTS = "高浓度颜料|highly concentrated pigments"
_PICNIC = "公园野餐和露营|picnics in the park and camping"
_OXFORD_210 = "210D牛津布|210D Oxford fabric"
_OXFORD_600 = "600D牛津布|600D Oxford fabric"
_HOLLOW = "中空棉填充|hollow-fibre filling"

CATEGORIES: tuple[Category, ...] = (
    Category(
        name=_t("运动鞋|Sports Shoes"),
        brands=_ts("跃步|Yuebu", "疾风|Jifeng", "踏云|Tayun", "飞驰|Feichi"),
        audiences=_ts("男士|men's", "女士|women's", "中性|unisex"),
        variants=_ts("黑色|black", "白色|white", "灰蓝色|grey-blue", "荧光绿|neon green"),
        kinds=(
            Kind(
                _t("跑步鞋|running shoes"),
                (199, 599),
                (
                    _f("轻便透气|lightweight breathable", 0.8, m=(_MESH,), h=(_AIRY,), u=(_JOG,)),
                    _f(
                        "缓震回弹|cushioned responsive",
                        1.1,
                        m=("超临界发泡中底|a supercritical-foam midsole|Features", _KNIT),
                        h=(
                            "鞋底回弹有力|the soles are springy and responsive",
                            "脚感柔软、包裹性好|they feel soft and fit snugly",
                        ),
                        u=(_JOG, "马拉松和长距离训练|marathons and long-distance training"),
                    ),
                    _f(
                        "碳板竞速|carbon-plate racing",
                        2.0,
                        m=("全掌碳纤维板|a full-length carbon-fibre plate|Features",),
                        h=("推进有力、助力提升配速|the plate drives you forward for faster paces",),
                        u=("马拉松和竞速比赛|marathons and races",),
                    ),
                    _f(
                        "防滑耐磨|non-slip hard-wearing",
                        0.9,
                        m=(_OUTSOLE,),
                        h=(
                            "橡胶大底抓地力强|the rubber outsoles grip well",
                            "鞋头加固更耐磨|reinforced toes make them more durable",
                        ),
                        u=(_JOG, "雨天路跑|running on wet roads"),
                    ),
                ),
            ),
            Kind(
                _t("篮球鞋|basketball shoes"),
                (299, 799),
                (
                    _f(
                        "高帮护踝|high-top ankle-support",
                        1.1,
                        m=("超纤皮革鞋面|microfibre leather uppers",),
                        h=("高帮包裹、稳定护踝|the high collar wraps and steadies the ankle",),
                    ),
                    _f(
                        "实战耐磨|court-ready hard-wearing",
                        0.9,
                        m=(_OUTSOLE,),
                        h=("大底耐磨、水泥场也不怕|the outsoles stand up to concrete courts",),
                        u=("室外水泥场实战|games on outdoor concrete courts",),
                    ),
                    _f(
                        "缓震抓地|cushioned high-grip",
                        1.2,
                        m=("气垫中底|an air-cushion midsole|Features",),
                        h=(
                            "落地缓震、急停抓地稳|"
                            "landings are cushioned and sudden stops grip firmly",
                        ),
                    ),
                    _f(
                        "轻量低帮|lightweight low-top",
                        m=(_KNIT,),
                        h=("轻盈灵活、启动迅速|they are light and agile for quick starts",),
                        u=(_COURT, "日常训练和街头穿搭|training and street style"),
                    ),
                ),
                uses=_ts(_COURT),
                variants=_ts(
                    "黑色|black", "白色|white", "红黑色|red and black", "荧光绿|neon green"
                ),
            ),
            Kind(
                _t("徒步鞋|hiking shoes"),
                (259, 799),
                (
                    _f(
                        "防水防滑|waterproof non-slip",
                        1.3,
                        m=("防水透湿膜鞋面|waterproof breathable-membrane uppers",),
                        h=("防水透湿、湿滑路面抓地稳|they keep water out and grip on wet ground",),
                    ),
                    _f(
                        "中帮护踝|mid-cut ankle-support",
                        1.2,
                        m=("翻毛牛皮鞋面|suede leather uppers",),
                        h=("中帮设计、稳定护踝|the mid-cut design steadies the ankle",),
                    ),
                    _f(
                        "轻量透气|lightweight breathable",
                        0.9,
                        m=(_MESH,),
                        h=(_AIRY,),
                        u=(
                            "城市通勤和周末郊游|city commuting and weekend outings",
                            "夏季轻徒步|light summer hikes",
                        ),
                    ),
                    _f(
                        "耐磨抓地|hard-wearing high-traction",
                        m=("大齿纹橡胶大底|deep-lug rubber outsoles",),
                        h=("大齿纹大底、山路抓地稳|the deep lugs grip on mountain trails",),
                    ),
                ),
                uses=_ts(_HIKE),
                variants=_ts("黑色|black", "卡其色|khaki", "军绿色|army green", "深灰色|dark grey"),
            ),
        ),
    ),
    Category(
        name=_t("水杯|Drinkware"),
        brands=_ts("暖居|Nuanju", "清泉|Qingquan", "悠享|Youxiang", "木森|Musen"),
        audiences=_ts("|", "学生|for students", "儿童|kids'"),
        variants=_ts(
            "黑色|black", "白色|white", "奶油绿|cream green", "樱花粉|cherry-blossom pink"
        ),
        kinds=(
            Kind(
                _t("保温杯|insulated bottle"),
                (69, 259),
                (
                    _f(
                        "316不锈钢真空|316 stainless steel vacuum",
                        m=(_STEEL_LINER,),
                        h=("保温12小时以上|it keeps drinks hot for over 12 hours",),
                    ),
                    _f(
                        "智能测温|smart temperature-display",
                        1.3,
                        m=("杯盖LED测温屏|an LED temperature display in the lid|Features",),
                        h=("轻触杯盖即显示水温|a touch on the lid shows the temperature",),
                    ),
                    _f(
                        "大容量弹盖|large flip-lid",
                        m=("双层真空结构|a double-wall vacuum structure|Features",),
                        h=(
                            "弹盖一键打开、单手就能喝|"
                            "the flip lid opens with one press for one-handed sipping",
                        ),
                        s=("500毫升", "750毫升"),
                    ),
                    _f(
                        "便携一键开|portable one-touch",
                        0.9,
                        m=(_STEEL_LINER,),
                        h=("密封防漏、不串味|it seals tight, does not leak and keeps no odours",),
                        s=("350毫升", "500毫升"),
                    ),
                ),
                specs=_ts("350毫升|350 ml", "500毫升|500 ml", "750毫升|750 ml"),
                uses=_ts(
                    "通勤和办公室|commuting and the office",
                    "冬季户外出行|winter trips outdoors",
                ),
                audience_uses=(
                    _uses_for("学生", "上学和图书馆自习|school and studying in the library"),
                    _uses_for("儿童", "上学和户外游玩|school and playing outdoors"),
                ),
            ),
            Kind(
                _t("玻璃杯|glass cup"),
                (29, 99),
                (
                    _f(
                        "高硼硅耐热|heat-resistant borosilicate",
                        m=("高硼硅玻璃|borosilicate glass",),
                        h=("耐冷耐热、不易炸裂|it handles hot and cold without cracking",),
                    ),
                    _f(
                        "双层防烫|double-wall heat-proof",
                        1.3,
                        m=("双层高硼硅玻璃|double-wall borosilicate glass",),
                        h=("双层隔热、拿着不烫手|the double wall keeps it cool to hold",),
                        u=("冲咖啡和热饮|coffee and hot drinks",),
                    ),
                    _f(
                        "带茶隔|tea-infuser",
                        1.2,
                        m=("不锈钢茶隔|a stainless steel tea infuser|Features",),
                        h=(
                            "茶水分离、久泡不苦涩|it keeps the leaves apart so the tea never stews",
                        ),
                        u=("办公室泡茶|brewing tea at the office",),
                    ),
                    _f(
                        "简约透明|minimalist clear",
                        0.8,
                        m=("加厚食品级玻璃|thick food-grade glass",),
                        h=("杯身通透、易清洗|it is crystal clear and easy to clean",),
                        v=("透明|clear glass",),
                    ),
                ),
                specs=_ts("300毫升|300 ml", "450毫升|450 ml", "600毫升|600 ml"),
                audiences=_ts("|", "学生|for students"),
                variants=_ts("透明|clear glass", "琥珀色|amber glass", "烟灰色|smoky grey glass"),
                uses=_ts(
                    "泡茶和冲咖啡|brewing tea and coffee",
                    "居家和办公室日常饮水|daily drinking at home and in the office",
                ),
                audience_uses=(
                    _uses_for("学生", "宿舍和教室日常饮水|daily drinking in dorms and classrooms"),
                ),
            ),
            Kind(
                _t("运动水壶|sports water bottle"),
                (39, 149),
                (
                    _f(
                        "Tritan材质|Tritan",
                        m=(_TRITAN,),
                        h=("轻巧耐摔|it is light and hard to break",),
                    ),
                    _f(
                        "吸管式防漏|leak-proof straw",
                        m=(_BPA_FREE,),
                        h=("吸管设计、运动中喝水不呛|the straw makes sipping easy on the move",),
                    ),
                    _f(
                        "带时间刻度|time-marker",
                        0.9,
                        m=(_TRITAN,),
                        h=(
                            "时间刻度提醒按时喝水|time markers remind you to drink through the day",
                        ),
                        s=("1升", "1.5升"),
                    ),
                    _f(
                        "户外防摔|drop-proof outdoor",
                        1.1,
                        m=(_TRITAN, _BPA_FREE),
                        h=("加厚杯身、耐摔抗冲击|a thick body survives knocks and drops",),
                    ),
                ),
                specs=_ts("600毫升|600 ml", "1升|1 litre", "1.5升|1.5 litre"),
                audiences=_ts("|", "学生|for students"),
                uses=_ts(
                    "健身房和户外运动|the gym and outdoor sports",
                    "骑行和徒步|cycling and hiking",
                ),
                audience_uses=(_uses_for("学生", "体育课和课间|PE classes and school breaks"),),
            ),
        ),
    ),
    Category(
        name=_t("耳机|Headphones"),
        brands=_ts("声悦|Shengyue", "听澜|Tinglan", "律动|Lvdong", "静界|Jingjie"),
        variants=_ts("黑色|black", "白色|white", "雾蓝色|misty blue", "薄荷绿|mint green"),
        kinds=(
            Kind(
                _t("真无线蓝牙耳机|true wireless earbuds"),
                (99, 699),
                (
                    _f(
                        "主动降噪|active noise-cancelling",
                        1.5,
                        m=("低功耗降噪芯片|a low-power noise-cancelling chip|Features",),
                        h=("嘈杂环境也能安静听歌|they keep music clear even in noisy places",),
                        u=("通勤和地铁出行|commuting and subway rides",),
                    ),
                    _f(
                        "半入耳式|semi-in-ear",
                        0.8,
                        m=("10毫米动圈单元|10 mm dynamic drivers|Features",),
                        h=("久戴不胀耳|they are comfortable for hours without ear pressure",),
                    ),
                    _f(
                        "低延迟游戏|low-latency gaming",
                        m=(_BT_CHIP,),
                        h=("连接稳定、延迟低|the connection is stable with low latency",),
                        u=("手机游戏和看视频|mobile gaming and videos",),
                    ),
                    _f(
                        "超长续航|long-battery-life",
                        0.9,
                        m=("大容量充电仓|a high-capacity charging case|Features",),
                        h=("配合充电仓续航可达40小时|with the case they play for up to 40 hours",),
                        u=("通勤和地铁出行|commuting and subway rides", "长途旅行|long trips"),
                    ),
                ),
                uses=_ts(
                    "通勤和地铁出行|commuting and subway rides",
                    "运动健身和日常听歌|workouts and everyday listening",
                ),
            ),
            Kind(
                _t("头戴式耳机|over-ear headphones"),
                (199, 1199),
                (
                    _f(
                        "主动降噪|active noise-cancelling",
                        1.5,
                        h=(
                            "深度降噪、飞机高铁上也安静|"
                            "deep noise cancelling keeps planes and trains quiet",
                        ),
                        u=("长途旅行和办公|long trips and office work",),
                    ),
                    _f(
                        "无线蓝牙|wireless Bluetooth",
                        h=("单次续航可达50小时|one charge lasts up to 50 hours", _RICH_BASS),
                    ),
                    _f(
                        "电竞游戏|esports gaming",
                        h=(
                            "带降噪麦克风、听声辨位准|"
                            "a noise-cancelling mic and precise positional audio",
                        ),
                        u=("打游戏和看电影|gaming and watching films",),
                    ),
                    _f(
                        "折叠便携|foldable portable",
                        0.8,
                        h=("可折叠收纳、方便携带|they fold up to carry easily", _RICH_BASS),
                        u=("通勤和旅行|commuting and travel",),
                    ),
                ),
                materials=_ts(
                    "40毫米大动圈单元|40 mm dynamic drivers|Features",
                    "50毫米大动圈单元|50 mm dynamic drivers|Features",
                ),
                uses=_ts(
                    "长途旅行和办公|long trips and office work",
                    "打游戏和看电影|gaming and watching films",
                ),
            ),
            Kind(
                _t("骨传导运动耳机|bone-conduction sports headphones"),
                (299, 999),
                (
                    _f(
                        "防水防汗|waterproof sweat-proof",
                        h=("IPX5防水、不怕汗水|IPX5 water resistance shrugs off sweat",),
                    ),
                    _f(
                        "挂耳式|ear-hook",
                        0.9,
                        h=(
                            "挂耳佩戴、跑跳不掉|"
                            "the ear hooks keep them in place while running and jumping",
                        ),
                    ),
                    _f("超轻|ultra-light", 1.1, h=("整机仅重26克|they weigh only 26 g",)),
                    _f(
                        "开放式|open-ear",
                        m=(_BT_CHIP,),
                        h=(
                            "不入耳、能听到周围环境声|"
                            "nothing goes in the ear, so you still hear your surroundings",
                        ),
                        u=("骑行和夜跑|cycling and night runs",),
                    ),
                ),
                materials=_ts("钛合金记忆骨架|a titanium-alloy memory frame|Features"),
                uses=_ts("跑步和骑行|running and cycling", "户外运动|outdoor sports"),
            ),
        ),
    ),
    Category(
        name=_t("手机配件|Phone Accessories"),
        brands=_ts("极充|Jichong", "盾甲|Dunjia", "优连|Youlian", "星源|Xingyuan"),
        variants=_ts("黑色|black", "白色|white", "深灰色|dark grey", "雾蓝色|misty blue"),
        kinds=(
            Kind(
                _t("手机壳|phone case"),
                (19, 99),
                (
                    _f(
                        "全包防摔|full-coverage shockproof",
                        m=("液态硅胶|liquid silicone",),
                        h=(
                            "四角加厚、全包防摔|"
                            "thick corners and full coverage protect against drops",
                            "镜头加高保护|a raised lip protects the camera",
                        ),
                    ),
                    _f(
                        "磁吸|magnetic",
                        1.3,
                        m=(_MAGNET,),
                        h=("磁力强、吸附稳|the strong magnets hold firmly",),
                        u=("搭配磁吸配件使用|use with magnetic accessories",),
                    ),
                    _f(
                        "超薄磨砂|ultra-thin matte",
                        0.9,
                        m=("亲肤磨砂PC背板|a soft-touch matte PC back|Features",),
                        h=(
                            "轻薄贴合、不沾指纹|it is slim, snug and smudge-free",
                            "按键灵敏、开孔精准|"
                            "the buttons are responsive and the cut-outs precise",
                        ),
                    ),
                    _f(
                        "透明气囊|clear air-cushion",
                        0.8,
                        m=("透明TPU软壳|a clear soft TPU shell|Features",),
                        h=(
                            "四角气囊防摔、透出手机原色|"
                            "air-cushioned corners guard against drops and the phone's own colour "
                            "shows through",
                        ),
                        v=("透明|a clear finish", "透黑|a smoky black finish"),
                    ),
                ),
                specs=_ts(
                    "适用iPhone 15|for iPhone 15",
                    "适用华为Mate 60|for Huawei Mate 60",
                    "适用小米14|for Xiaomi 14",
                ),
                spec_price=0.0,
                uses=_ts("日常防护|everyday protection"),
            ),
            Kind(
                _t("充电宝|power bank"),
                (59, 299),
                (
                    _f(
                        "22.5W快充|22.5 W fast-charging",
                        h=(
                            "支持多设备同时充电|it charges several devices at once",
                            "剩余电量数字显示|it shows the remaining charge as a number",
                        ),
                    ),
                    _f(
                        "超薄便携|ultra-slim portable",
                        h=("机身轻薄、可放进口袋|it is slim enough for a pocket",),
                        s=("10000毫安时",),
                    ),
                    _f(
                        "磁吸无线|magnetic wireless",
                        1.3,
                        m=(_MAGNET,),
                        h=("吸上手机即可无线充电|snap it onto the phone to charge wirelessly",),
                        s=("10000毫安时",),
                    ),
                    _f(
                        "自带线|built-in-cable",
                        0.9,
                        h=(
                            "自带充电线、出门不用带线|"
                            "a built-in cable means no extra cable to carry",
                        ),
                    ),
                ),
                specs=_ts("10000毫安时|10,000 mAh", "20000毫安时|20,000 mAh"),
                spec_price=0.4,
                materials=_ts(
                    "高密度锂聚合物电芯|high-density lithium-polymer cells",
                    "阻燃外壳|a flame-retardant shell|Features",
                ),
                uses=_ts(
                    "出差和旅行|business trips and travel",
                    "通勤路上应急充电|emergency charging on the commute",
                ),
            ),
            Kind(
                _t("数据线|USB cable"),
                (15, 69),
                (
                    _f(
                        "编织快充|braided fast-charging",
                        m=("尼龙编织线身|a braided nylon jacket|Features",),
                        h=(
                            "反复弯折上万次不易断|it survives over ten thousand bends",
                            "充电传输二合一|it charges and transfers data",
                        ),
                    ),
                    _f(
                        "三合一|3-in-1",
                        1.1,
                        h=(
                            "一线三头、可同时给三台设备充电|"
                            "one cable with three plugs charges three devices at once",
                        ),
                    ),
                    _f(
                        "L形弯头|right-angle",
                        h=(
                            "弯头设计、边充边玩不硌手|"
                            "the angled plug stays comfortable while you play and charge",
                        ),
                        u=("边充电边打游戏|gaming while charging",),
                    ),
                    _f(
                        "100W超级快充|100 W super-fast-charging",
                        1.4,
                        m=("E-Marker智能芯片|an E-Marker smart chip|Features",),
                        h=("支持笔记本电脑100W快充|it charges laptops at up to 100 W",),
                        u=("笔记本电脑和手机快充|fast-charging laptops and phones",),
                    ),
                ),
                specs=_ts("1米|1 m", "1.5米|1.5 m", "2米|2 m"),
                materials=_ts("镀金接口|gold-plated connectors"),
                uses=_ts(
                    "手机和平板充电|charging phones and tablets",
                    "车载和办公室使用|the car and the office",
                ),
            ),
        ),
    ),
    Category(
        name=_t("连衣裙|Dresses"),
        brands=_ts("素语|Suyu", "锦瑟|Jinse", "初夏|Chuxia", "棉知|Mianzhi"),
        audiences=_ts("|", "大码|plus-size", "小个子|petite"),
        variants=_ts(
            "黑色|black", "米白色|off-white", "雾霾蓝|dusty blue", "酒红色|burgundy", "黄色|yellow"
        ),
        kinds=(
            Kind(
                _t("碎花连衣裙|floral dress"),
                (129, 399),
                (
                    _f(
                        "法式复古|French vintage",
                        1.1,
                        m=(_COTTON,),
                        h=("复古碎花、温柔有气质|vintage florals with a gentle elegance",),
                    ),
                    _f("收腰显瘦|fitted-waist slimming", m=(_COTTON,), h=(_SLIMMING,)),
                    _f(
                        "方领泡泡袖|square-neck puff-sleeve",
                        m=(_COTTON, _LINEN),
                        h=(
                            "方领显锁骨、泡泡袖修饰手臂|"
                            "the square neck shows off the collarbone and the puff sleeves flatter "
                            "the arms",
                        ),
                    ),
                    _f(
                        "雪纺飘逸|flowing chiffon",
                        1.1,
                        m=("垂感雪纺面料|drapey chiffon fabric",),
                        h=("裙摆垂坠有质感|the skirt drapes beautifully",),
                        u=("海边度假拍照|beach holiday photos",),
                    ),
                ),
                uses=_ts(
                    "春夏出游和约会|spring and summer outings and dates",
                    "海边度假拍照|beach holiday photos",
                ),
            ),
            Kind(
                _t("针织连衣裙|knit dress"),
                (159, 499),
                (
                    _f(
                        "修身长款|slim-fit long",
                        m=(_STRETCH_KNIT,),
                        h=("版型修身、显高显瘦|the cut is flattering and elongating",),
                    ),
                    _f(
                        "高领打底|high-neck layering",
                        m=(_WOOL,),
                        h=(
                            "高领保暖、可单穿可内搭|"
                            "the high neck keeps you warm, worn alone or layered",
                        ),
                        u=("秋冬通勤|the autumn and winter commute",),
                    ),
                    _f(
                        "温柔气质|soft elegant",
                        1.1,
                        m=(_WOOL,),
                        h=("柔软亲肤、垂坠有质感|it is soft on the skin and drapes well",),
                    ),
                    _f(
                        "坑条|ribbed",
                        0.9,
                        m=(_STRETCH_KNIT,),
                        h=("坑条纹理显瘦有弹性|the ribbed texture is slimming and stretchy",),
                    ),
                ),
                uses=_ts("秋冬通勤|the autumn and winter commute", "日常约会|everyday dates"),
            ),
            Kind(
                _t("衬衫裙|shirt dress"),
                (139, 459),
                (
                    _f(
                        "宽松休闲|loose casual",
                        m=(_LINEN, _COTTON),
                        h=("宽松版型、不挑身材|the loose cut suits every figure",),
                        u=("周末休闲|relaxed weekends",),
                    ),
                    _f("系带收腰|belted", m=(_COTTON,), h=(_SLIMMING,)),
                    _f(
                        "条纹通勤|striped office",
                        1.1,
                        m=("天丝混纺面料|a Tencel-blend fabric",),
                        h=("垂顺挺括、不易起皱|it drapes neatly and resists wrinkles",),
                        u=("上班通勤|the office commute",),
                        v=("蓝白条纹|blue-and-white stripes", "黑白条纹|black-and-white stripes"),
                    ),
                    _f(
                        "纯棉|pure-cotton",
                        0.9,
                        m=(_COTTON,),
                        h=("柔软亲肤、透气吸汗|it is soft on the skin, breathable and absorbent",),
                    ),
                ),
                uses=_ts("上班通勤|the office commute", "周末休闲|relaxed weekends"),
            ),
        ),
    ),
    Category(
        name=_t("茶叶|Tea"),
        brands=_ts("茗山|Mingshan", "云雾|Yunwu", "山岚|Shanlan", "一叶|Yiye"),
        variant_key=_t("包装|packaging"),
        variant_fmt=_t("{}|{}"),
        uses=_ts(
            "日常自饮|everyday drinking",
            "送礼和待客|gifts and entertaining guests",
            "办公室冲泡|brewing at the office",
        ),
        kinds=(
            Kind(
                _t("西湖龙井|West Lake Longjing green tea"),
                (98, 598),
                (
                    _f(
                        "明前特级|pre-Qingming premium-grade",
                        1.6,
                        m=("一芽一叶鲜叶|fresh leaves plucked as one bud and one leaf",),
                        h=(
                            "香气清高、滋味鲜爽|the aroma is fresh and the taste brisk and savoury",
                        ),
                    ),
                    _f(
                        "雨前一级|pre-Guyu first-grade",
                        0.8,
                        m=("一芽两叶鲜叶|fresh leaves plucked as one bud and two leaves",),
                        h=(
                            "滋味醇厚、耐冲泡|"
                            "the taste is mellow and it holds up to many infusions",
                        ),
                    ),
                    _f(
                        "手工炒制|hand-roasted",
                        1.3,
                        m=("核心产区鲜叶|fresh leaves from the core growing area",),
                        h=("手工炒制、豆香浓郁|roasting by hand brings out a rich, nutty aroma",),
                    ),
                    _f(
                        "2026新茶|2026 new-harvest",
                        m=("高山茶园鲜叶|fresh leaves from high-mountain tea gardens",),
                        h=(_LASTING,),
                    ),
                ),
                specs=_ts("125克|125 g", "250克|250 g"),
                variants=_ts(_TIN, _GIFT_BOX, "纸包装|wrapped in paper"),
            ),
            Kind(
                _t("正山小种红茶|Lapsang Souchong black tea"),
                (68, 398),
                (
                    _f(
                        "武夷山|Wuyishan",
                        h=("汤色红艳、滋味醇厚|the liquor is a bright red and the taste mellow",),
                    ),
                    _f(
                        "特级蜜香|premium honey-scented",
                        1.4,
                        h=("蜜香浓郁、回甘持久|a rich honey aroma and a lasting sweet aftertaste",),
                    ),
                    _f("浓香型|rich-flavoured", h=(_MELLOW,)),
                    _f(
                        "无烟|unsmoked",
                        h=(
                            "不经松烟熏制、香气纯净|"
                            "it is not smoked over pine, so the aroma is pure",
                        ),
                    ),
                ),
                specs=_ts("250克|250 g", "500克|500 g"),
                materials=_ts(
                    "武夷山桐木关鲜叶|fresh leaves from Tongmuguan in the Wuyi Mountains"
                ),
                variants=_ts(_TIN, _GIFT_BOX, "袋装|packed in a pouch"),
            ),
            Kind(
                _t("铁观音|Tieguanyin oolong tea"),
                (78, 458),
                (
                    _f(
                        "安溪清香型|Anxi light-aroma",
                        h=("香气清高、汤色金黄|a fresh aroma and a golden liquor",),
                    ),
                    _f(
                        "浓香型|rich-roasted",
                        m=("传统炭焙工艺|traditional charcoal roasting|Features",),
                        h=("焙火香浓、滋味醇厚|a rich roasted aroma and a mellow taste",),
                    ),
                    _f(
                        "特级|premium",
                        1.4,
                        h=(
                            "香气高扬、耐冲泡|"
                            "the aroma is lively and it holds up to many infusions",
                        ),
                    ),
                    _f(
                        "兰花香|orchid-scented",
                        1.1,
                        h=(
                            "兰花香馥郁、回甘持久|"
                            "a rich orchid aroma and a lasting sweet aftertaste",
                        ),
                    ),
                ),
                specs=_ts("250克|250 g", "500克|500 g"),
                materials=_ts("安溪高山茶园鲜叶|fresh leaves from high-mountain gardens in Anxi"),
                variants=_ts(_TIN, _GIFT_BOX, "独立小包装|in individual sachets"),
            ),
            Kind(
                _t("普洱茶饼|Pu'er tea cake"),
                (88, 688),
                (
                    _f(
                        "云南古树生茶|Yunnan old-tree raw",
                        1.5,
                        m=("云南古树晒青毛茶|sun-dried leaves from old Yunnan tea trees",),
                        h=(
                            "回甘生津、越陈越香|"
                            "a sweet, mouth-watering finish that improves with age",
                        ),
                    ),
                    _f(
                        "十年陈熟茶|ten-year-aged ripe",
                        1.6,
                        m=("渥堆发酵的大叶种毛茶|pile-fermented large-leaf tea",),
                        h=("汤色红浓、陈香醇厚|a deep red liquor with a mellow aged aroma",),
                    ),
                    _f(
                        "冰岛|Bingdao",
                        2.0,
                        m=("冰岛村古树毛茶|leaves from old trees in Bingdao village",),
                        h=("冰糖甜韵、回甘持久|a rock-sugar sweetness with a lasting finish",),
                    ),
                    _f(
                        "勐海|Menghai",
                        0.9,
                        m=("勐海大叶种晒青毛茶|sun-dried Menghai large-leaf tea",),
                        h=(_MELLOW,),
                    ),
                ),
                specs=_ts("200克|200 g", "357克|357 g"),
                variants=_ts(
                    "棉纸包装|wrapped in cotton paper", _GIFT_BOX, "木盒装|in a wooden box"
                ),
                uses=_ts(
                    "日常自饮|everyday drinking",
                    "送礼和待客|gifts and entertaining guests",
                    "长期存放收藏|keeping to age",
                ),
            ),
        ),
    ),
    Category(
        name=_t("儿童玩具|Kids' Toys"),
        brands=_ts("童趣|Tongqu", "咕噜豆|Guludou", "乐智|Lezhi", "星宝|Xingbao"),
        variants=_ts("红色|red", "蓝色|blue", "粉色|pink", "黄色|yellow"),
        highlights=_ts(_3C),
        uses=_ts(_TOGETHER, _BIRTHDAY),
        kinds=(
            Kind(
                _t("积木|building blocks"),
                (59, 399),
                (
                    _f(
                        "大颗粒益智|educational large-brick",
                        0.8,
                        m=("食品级PP材料|food-grade PP",),
                        h=(
                            "颗粒大、不易误吞|the big bricks are hard to swallow",
                            "圆角设计不伤手|rounded edges keep little hands safe",
                        ),
                        u=(_TOGETHER, "幼儿园和家庭游戏|kindergarten and play at home"),
                        s=("2-6岁",),
                    ),
                    _f("城市工程车|city construction-vehicle", s=("6岁以上", "8岁以上")),
                    _f("太空探索|space-exploration", 1.2, s=("6岁以上", "8岁以上")),
                    _f("恐龙主题|dinosaur-themed", s=("6岁以上", "8岁以上")),
                ),
                specs=_ts("2-6岁|ages 2-6", "6岁以上|ages 6+", "8岁以上|ages 8+"),
                spec_price=0.6,
                spec_variants=(
                    _ts("60颗粒|60 pieces", "120颗粒|120 pieces"),
                    _ts("300颗粒|300 pieces", "500颗粒|500 pieces"),
                    _ts("600颗粒|600 pieces", "1000颗粒|1,000 pieces"),
                ),
                variant_key=_t("颗粒数|piece count"),
                variant_fmt=_t("共{}|{} in all"),
                materials=_ts("环保ABS材料|eco-friendly ABS plastic"),
                highlights=_ts(
                    "拼插紧密、不易松散|the bricks click together firmly",
                    "锻炼动手能力和想象力|it builds hands-on skills and imagination",
                ),
            ),
            Kind(
                _t("遥控车|remote-control car"),
                (99, 459),
                (
                    _f(
                        "四驱越野|4WD off-road",
                        1.2,
                        h=("四驱动力强、草地沙地都能跑|four-wheel drive handles grass and sand",),
                    ),
                    _f(
                        "高速漂移|high-speed drifting",
                        h=("时速可达20公里、漂移灵活|it reaches 20 km/h and drifts nimbly",),
                    ),
                    _f(
                        "充电特技|rechargeable stunt",
                        0.9,
                        h=("360度翻转特技、可充电|it does 360-degree flips and is rechargeable",),
                    ),
                    _f(
                        "水陆两栖|amphibious",
                        1.3,
                        h=("水上陆地都能开|it drives on land and on water",),
                        u=("户外玩耍|playing outdoors", "夏季戏水|summer water play"),
                    ),
                ),
                specs=_ts("6岁以上|ages 6+", "8岁以上|ages 8+"),
                spec_price=0.2,
                materials=_ts(
                    "加厚耐摔车身|a thick, crash-resistant body|Features",
                    "合金底盘|an alloy chassis|Features",
                ),
                uses=_ts(_TOGETHER, _BIRTHDAY, "户外玩耍|playing outdoors"),
            ),
            Kind(
                _t("毛绒玩具|plush toy"),
                (39, 199),
                (
                    _f(
                        "安抚|soothing",
                        h=(
                            "可机洗不变形|it can be machine washed without losing its shape",
                            "面料柔软亲肤|the fabric is soft on the skin",
                        ),
                        u=("哄睡安抚|soothing children to sleep", _BIRTHDAY),
                        s=("30厘米",),
                    ),
                    _f(
                        "大号抱枕|large cuddle-pillow",
                        u=("卧室和沙发装饰|decorating bedrooms and sofas", _BIRTHDAY),
                        s=("60厘米", "90厘米"),
                    ),
                    _f("恐龙|dinosaur", s=("30厘米", "60厘米")),
                    _f("兔子造型|bunny", s=("30厘米", "60厘米")),
                ),
                specs=_ts("30厘米|30 cm", "60厘米|60 cm", "90厘米|90 cm"),
                spec_price=1.0,
                variants=_ts("粉色|pink", "灰色|grey", "棕色|brown", "白色|white"),
                materials=_ts("短毛绒面料|short-pile plush fabric", "PP棉填充|PP cotton filling"),
                highlights=_ts(
                    "面料柔软亲肤|the fabric is soft on the skin",
                    "做工精细、不掉毛|it is neatly made and does not shed",
                    _3C,
                ),
                uses=_ts("哄睡安抚|soothing children to sleep", _BIRTHDAY),
            ),
            Kind(
                _t("拼图|jigsaw puzzle"),
                (29, 129),
                (
                    _f(
                        "木质|wooden",
                        1.2,
                        m=("实木拼板|solid wood pieces",),
                        h=("圆角打磨不伤手|smooth rounded edges keep little hands safe",),
                        s=("1-3岁", "3-6岁"),
                    ),
                    _f(
                        "地图认知|world-map",
                        m=("加厚纸板|thick cardboard",),
                        h=("边玩边认识世界地图|children learn the world map as they play",),
                        s=("3-6岁", "6岁以上"),
                    ),
                    _f(
                        "动物|animal",
                        m=("加厚纸板|thick cardboard",),
                        h=("认识常见动物|it teaches the common animals",),
                        s=("1-3岁", "3-6岁"),
                    ),
                    _f(
                        "早教|early-learning",
                        m=("实木拼板|solid wood pieces",),
                        h=("认识颜色和形状|it teaches colours and shapes",),
                        u=(_TOGETHER, "早教启蒙|early learning"),
                        s=("1-3岁", "3-6岁"),
                    ),
                ),
                specs=_ts("1-3岁|ages 1-3", "3-6岁|ages 3-6", "6岁以上|ages 6+"),
                spec_price=0.5,
                spec_variants=(
                    _ts("6片|6 pieces", "9片|9 pieces"),
                    _ts("24片|24 pieces", "48片|48 pieces"),
                    _ts("100片|100 pieces", "200片|200 pieces"),
                ),
                variant_key=_t("片数|piece count"),
                variant_fmt=_t("共{}|{} in all"),
            ),
        ),
    ),
    Category(
        name=_t("护肤品|Skincare"),
        brands=_ts("水漾|Shuiyang", "润颜|Runyan", "植本|Zhiben", "禾肌|Heji"),
        audiences=_ts("|", "男士|men's"),
        variant_key=_t("肤质|skin type"),
        variant_fmt=_t("{}适用|for {} skin"),
        variants=_ts(_DRY, _OILY, _COMBI, _SENSITIVE),
        materials=_ts(_PLANTS, "无香精配方|a fragrance-free formula|Features"),
        uses=_ts(
            "日常早晚护肤|daily morning and evening care",
            "换季肌肤护理|skin care through seasonal changes",
        ),
        kinds=(
            Kind(
                _t("面霜|face cream"),
                (89, 499),
                (
                    _f(
                        "补水保湿|hydrating",
                        m=(_CERAMIDE, _PLANTS),
                        h=("持久保湿不紧绷|it keeps skin moist without tightness",),
                        v=(_DRY, _COMBI, _SENSITIVE),
                    ),
                    _f(
                        "修护屏障|barrier-repair",
                        1.2,
                        m=(_CENTELLA, _CERAMIDE),
                        h=("温和不刺激、舒缓泛红|it is gentle and calms redness",),
                        v=(_SENSITIVE, _DRY),
                    ),
                    _f(
                        "抗皱紧致|anti-wrinkle firming",
                        1.6,
                        m=("胜肽复合配方|a peptide complex formula|Features",),
                        h=("淡化细纹、提升紧致|it softens fine lines and firms the skin",),
                        v=(_DRY, _COMBI),
                    ),
                    _f(
                        "清爽控油|light oil-control",
                        0.9,
                        m=(_PLANTS,),
                        h=(_FRESH_FEEL,),
                        v=(_OILY, _COMBI),
                    ),
                ),
                specs=_ts("50克|50 g", "80克|80 g"),
            ),
            Kind(
                _t("精华液|serum"),
                (129, 699),
                (
                    _f(
                        "玻尿酸补水|hyaluronic-acid hydrating",
                        m=("多重玻尿酸|several kinds of hyaluronic acid",),
                        h=("质地轻薄、易吸收|the texture is light and absorbs quickly",),
                    ),
                    _f(
                        "烟酰胺提亮|niacinamide brightening",
                        1.1,
                        m=("5%烟酰胺|5% niacinamide",),
                        h=("提亮肤色、改善暗沉|it brightens a dull complexion",),
                        v=(_DRY, _OILY, _COMBI),
                    ),
                    _f(
                        "视黄醇抗老|retinol anti-ageing",
                        1.5,
                        m=("微囊包裹视黄醇|encapsulated retinol",),
                        h=(
                            "淡化细纹、建议晚间使用|"
                            "it softens fine lines and is best used at night",
                        ),
                        u=("晚间护肤|evening skin care",),
                        v=(_DRY, _OILY, _COMBI),
                    ),
                    _f(
                        "舒缓修护|soothing repair",
                        1.1,
                        m=(_CENTELLA,),
                        h=(_GENTLE,),
                        v=(_SENSITIVE, _DRY),
                    ),
                ),
                specs=_ts("30毫升|30 ml", "50毫升|50 ml"),
            ),
            Kind(
                _t("洗面奶|facial cleanser"),
                (39, 159),
                (
                    _f(
                        "氨基酸温和|gentle amino-acid",
                        m=("氨基酸洁面配方|an amino-acid cleansing formula|Features",),
                        h=("洗后清爽不紧绷|skin feels clean, not tight, after washing",),
                    ),
                    _f(
                        "深层清洁|deep-cleansing",
                        m=("天然白泥|natural white clay",),
                        h=("清洁毛孔污垢和多余油脂|it clears dirt and excess oil from the pores",),
                        v=(_OILY, _COMBI),
                    ),
                    _f(
                        "泡沫绵密|rich-foam",
                        0.9,
                        m=(_PLANTS,),
                        h=(
                            "泡沫丰富细腻、容易冲净|"
                            "the foam is rich and fine and rinses off easily",
                        ),
                        v=(_DRY, _OILY, _COMBI),
                    ),
                    _f(
                        "控油|oil-control",
                        0.9,
                        m=("茶树精油|tea tree oil",),
                        h=("控油清爽、减少出油|it keeps oil in check and skin fresh",),
                        v=(_OILY, _COMBI),
                    ),
                ),
                specs=_ts("100克|100 g", "150克|150 g"),
                uses=_ts("日常早晚洁面|daily morning and evening cleansing"),
            ),
            Kind(
                _t("防晒霜|sunscreen"),
                (69, 259),
                (
                    _f(
                        "SPF50+高倍|SPF50+ high-protection",
                        1.1,
                        m=(_UV_FILTERS,),
                        h=("高倍防护、长效防晒|it protects strongly and for a long time",),
                    ),
                    _f("清爽不油腻|light non-greasy", h=(_FRESH_FEEL,), v=(_OILY, _COMBI)),
                    _f(
                        "防水防汗|water- and sweat-resistant",
                        1.1,
                        m=(_UV_FILTERS,),
                        h=("游泳出汗也不易脱落|it stays on through swimming and sweat",),
                        u=("海边度假|beach holidays", "户外运动|outdoor sports"),
                        v=(_DRY, _OILY, _COMBI),
                    ),
                    _f(
                        "物理|mineral",
                        m=("氧化锌物理防晒剂|zinc oxide mineral filters",),
                        h=(_GENTLE,),
                        v=(_SENSITIVE, _DRY),
                    ),
                ),
                specs=_ts("40毫升|40 ml", "60毫升|60 ml"),
                uses=_ts(
                    "户外出行和日常通勤|outdoor trips and the daily commute",
                    "海边度假|beach holidays",
                ),
            ),
        ),
    ),
    Category(
        name=_t("厨房用品|Kitchenware"),
        brands=_ts("厨乐|Chule", "匠心|Jiangxin", "美膳|Meishan", "铁匠铺|Tiejiangpu"),
        variants=_ts("黑色|black", "米白色|off-white", "奶油绿|cream green", "灰色|grey"),
        uses=_ts(_COOKING),
        kinds=(
            Kind(
                _t("炒锅|wok"),
                (99, 459),
                (
                    _f(
                        "不粘|non-stick",
                        0.9,
                        m=("食品级不粘涂层|a food-grade non-stick coating|Features",),
                        h=("少油烟、易清洗|it makes less smoke and is easy to clean",),
                    ),
                    _f(
                        "精铁无涂层|uncoated iron",
                        m=("精铁锅身|a refined iron body|Features",),
                        h=("无涂层、越用越好用|it has no coating and gets better with use",),
                        v=("黑色|black",),
                    ),
                    _f(
                        "麦饭石不粘|granite-stone non-stick",
                        m=("麦饭石涂层|a granite-stone coating|Features",),
                        h=(_EVEN_HEAT,),
                    ),
                    _f(
                        "多层钢复合|multi-ply steel",
                        1.5,
                        m=("三层复合钢|three-ply clad steel",),
                        h=(_EVEN_HEAT, "燃气灶电磁炉通用|it works on gas and induction hobs"),
                        v=("银色|silver",),
                    ),
                ),
                specs=_ts("30厘米|30 cm", "32厘米|32 cm"),
                uses=_ts(_COOKING, "乔迁送礼|housewarming gifts"),
            ),
            Kind(
                _t("菜刀|kitchen knife"),
                (59, 299),
                (
                    _f(
                        "锻打|forged",
                        1.1,
                        m=(_CARBON_STEEL,),
                        h=("刀刃锋利、切菜省力|the edge is sharp and cuts with little effort",),
                    ),
                    _f(
                        "切片|slicing",
                        0.9,
                        m=("5Cr15钢材|5Cr15 steel",),
                        h=("刀身轻薄、切片均匀|the thin blade cuts even slices",),
                    ),
                    _f(
                        "大马士革钢|Damascus steel",
                        1.8,
                        m=("67层大马士革钢|67-layer Damascus steel",),
                        h=("花纹美观、锋利持久|it has a beautiful pattern and holds its edge",),
                    ),
                    _f(
                        "斩切两用|chop-and-slice",
                        m=(_CARBON_STEEL,),
                        h=(
                            "能切能斩、剁骨不卷刃|"
                            "it slices and chops, even through bone, without dulling",
                        ),
                    ),
                ),
                variant_key=_t("刀柄|handle"),
                variant_fmt=_t("{}款|with {}"),
                variants=_ts(
                    "木柄|a wooden handle",
                    "钢柄|a steel handle",
                    "防滑塑料柄|a non-slip plastic handle",
                ),
                uses=_ts(_COOKING, "切菜切肉|slicing vegetables and meat"),
            ),
            Kind(
                _t("砧板|chopping board"),
                (39, 199),
                (
                    _f(
                        "实木|solid-wood",
                        1.3,
                        m=("整块黑檀木|a single piece of ebony",),
                        h=("不易开裂发霉|it resists cracking and mould",),
                    ),
                    _f(
                        "抗菌|antibacterial",
                        0.8,
                        m=("食品级PP材质|food-grade PP plastic",),
                        h=("抗菌防霉、轻便易洗|it resists bacteria and mould and is easy to wash",),
                        s=("36×24厘米", "40×28厘米"),
                    ),
                    _f(
                        "双面|double-sided",
                        m=(_BAMBOO,),
                        h=(
                            "生熟分开更卫生|"
                            "separate sides for raw and cooked food keep it hygienic",
                        ),
                        s=("36×24厘米", "40×28厘米"),
                    ),
                    _f(
                        "加厚|extra-thick",
                        1.1,
                        m=(_BAMBOO,),
                        h=("厚实稳固、剁骨不晃|it is thick and steady for chopping bones",),
                    ),
                ),
                specs=_ts(
                    "直径30厘米|30 cm diameter", "36×24厘米|36 x 24 cm", "40×28厘米|40 x 28 cm"
                ),
                spec_variants=(_ts("圆形|round"), _ts(_RECTANGLE), _ts(_RECTANGLE)),
                variant_key=_t("形状|shape"),
                variant_fmt=_t("{}|{}"),
                uses=_ts(_COOKING, "切菜和揉面|chopping and kneading dough"),
            ),
        ),
    ),
    Category(
        name=_t("箱包|Bags & Luggage"),
        brands=_ts("行者|Xingzhe", "途远|Tuyuan", "简行|Jianxing", "背客|Beike"),
        audiences=_ts("|", "男士|men's", "女士|women's", "学生|student"),
        variants=_ts("黑色|black", "灰色|grey", "藏青色|navy", "卡其色|khaki"),
        kinds=(
            Kind(
                _t("双肩包|backpack"),
                (99, 499),
                (
                    _f(
                        "大容量通勤|large-capacity commuter",
                        m=(_NYLON,),
                        h=("分区收纳、取物方便|organised compartments make things easy to reach",),
                        s=("30升",),
                    ),
                    _f(
                        "防泼水|water-repellent",
                        m=("高密度防泼水牛津布|high-density water-repellent Oxford fabric",),
                        h=("雨天不怕淋湿|its contents stay dry in the rain",),
                    ),
                    _f(
                        "轻便休闲|light casual",
                        0.8,
                        m=(_NYLON,),
                        h=("背负透气减压|the straps are breathable and ease the load",),
                        u=("周末出游|weekend outings",),
                    ),
                    _f(
                        "商务电脑|business laptop",
                        1.2,
                        m=("防震电脑隔层|a padded laptop compartment|Features",),
                        h=("可放16英寸笔记本电脑|it fits a 16-inch laptop",),
                        a=("", "男士", "女士"),
                    ),
                ),
                specs=_ts("20升|20 L", "30升|30 L"),
                uses=_ts(
                    "上班通勤和短途出差|commuting and short business trips",
                    "周末出游|weekend outings",
                ),
                audience_uses=(_uses_for("学生", "上学和周末出游|school and weekend outings"),),
            ),
            Kind(
                _t("行李箱|suitcase"),
                (199, 899),
                (
                    _f(
                        "铝框|aluminium-frame",
                        1.3,
                        m=(
                            "PC箱体配铝合金框架|"
                            "a polycarbonate shell on an aluminium frame|Features",
                        ),
                        h=("抗压耐摔|it withstands pressure and drops",),
                    ),
                    _f(
                        "静音万向轮|silent spinner-wheel",
                        m=(_PC_SHELL,),
                        h=("轮子顺滑静音|the wheels roll smoothly and quietly",),
                    ),
                    _f(
                        "超轻|ultra-light",
                        1.1,
                        m=("轻质PC箱体|a lightweight polycarbonate shell|Features",),
                        h=("箱体轻巧、提拎省力|it is light and easy to lift",),
                    ),
                    _f(
                        "扩展大容量|expandable",
                        m=(_PC_SHELL,),
                        h=("拉链扩展层可增加容量|an expansion zip adds room",),
                        s=("24英寸", "28英寸"),
                    ),
                ),
                specs=_ts("20英寸|20-inch", "24英寸|24-inch", "28英寸|28-inch"),
                spec_price=0.5,
                spec_uses=(
                    _ts("短途出差和登机|short business trips as cabin luggage"),
                    _ts("出差和旅行|business trips and travel"),
                    _ts("长途旅行和留学|long journeys and studying abroad"),
                ),
            ),
            Kind(
                _t("斜挎包|crossbody bag"),
                (69, 359),
                (
                    _f(
                        "小众设计|indie-design",
                        1.2,
                        m=(_LEATHER,),
                        h=("小巧能装、轻便不累|it is small but roomy and light to carry",),
                    ),
                    _f(
                        "多口袋|multi-pocket",
                        m=(_NYLON,),
                        h=("多个口袋、分类收纳|several pockets keep things organised",),
                    ),
                    _f(
                        "运动|sporty",
                        0.9,
                        m=(_NYLON,),
                        h=("轻便防泼水|it is light and water-repellent",),
                    ),
                    _f(
                        "简约|minimalist",
                        m=(_LEATHER, _NYLON),
                        h=("肩带可调节|the strap is adjustable",),
                    ),
                ),
                uses=_ts(
                    "逛街和日常出行|shopping and everyday outings",
                    "短途旅行|short trips",
                ),
                audience_uses=(_uses_for("学生", "上学和日常出行|school and everyday outings"),),
            ),
        ),
    ),
    Category(
        name=_t("宠物用品|Pet Supplies"),
        brands=_ts("萌宠|Mengchong", "毛孩|Maohai", "暖爪|Nuanzhua", "乐宠居|Lechongju"),
        variants=_ts("灰色|grey", "咖啡色|brown", "粉色|pink", "蓝色|blue"),
        kinds=(
            Kind(
                _t("猫砂|cat litter"),
                (29, 89),
                (
                    _f(
                        "豆腐|tofu",
                        m=("天然豌豆纤维|natural pea fibre",),
                        h=("吸水快、可冲马桶|it absorbs fast and can be flushed",),
                    ),
                    _f(
                        "膨润土|bentonite",
                        0.8,
                        m=(_BENTONITE,),
                        h=("吸水快、结团硬|it absorbs fast and clumps firmly",),
                    ),
                    _f(
                        "混合|mixed",
                        m=("豆腐砂和膨润土|tofu litter and bentonite clay",),
                        h=("结团快、除臭好|it clumps fast and controls odour well",),
                    ),
                    _f(
                        "低尘除臭|low-dust odour-control",
                        1.1,
                        m=("活性炭颗粒和膨润土|activated charcoal granules and bentonite clay",),
                        h=(
                            "低粉尘、除臭持久|it is low in dust and controls odour for a long time",
                        ),
                    ),
                ),
                specs=_ts("2.5公斤|2.5 kg", "5公斤|5 kg", "10公斤|10 kg"),
                spec_price=1.5,
                variant_key=_t("香型|scent"),
                variant_fmt=_t("{}|{}"),
                variants=_ts("原味|unscented", "绿茶味|green tea scent", "奶香味|milk scent"),
                uses=_ts(
                    "单猫和多猫家庭|single-cat and multi-cat homes",
                    "日常清理猫砂盆|daily litter box care",
                ),
            ),
            Kind(
                _t("宠物窝|pet bed"),
                (59, 259),
                (
                    _f(
                        "四季通用|all-season",
                        m=("双面可用垫面|a reversible cushion|Features",),
                        h=("一面凉爽一面保暖|one side is cool and the other warm",),
                    ),
                    _f(
                        "可拆洗|removable-cover washable",
                        m=(_PP_COTTON,),
                        h=("外套可拆下机洗|the cover comes off for machine washing",),
                    ),
                    _f(
                        "半封闭保暖|semi-enclosed warm",
                        1.1,
                        m=("亲肤短毛绒|soft short plush",),
                        h=(
                            "半封闭设计、冬季保暖有安全感|"
                            "the semi-enclosed shape keeps pets warm and secure in winter",
                        ),
                    ),
                    _f(
                        "沙发式|sofa-style",
                        1.1,
                        m=(_PP_COTTON,),
                        h=("四周靠枕、可趴可靠|raised sides to lean and rest on",),
                    ),
                ),
                specs=_ts("小号|small", "中号|medium", "大号|large"),
                spec_price=0.6,
                spec_uses=(
                    _ts("猫咪和小型犬|cats and small dogs"),
                    _ts("猫咪和中型犬|cats and medium-sized dogs"),
                    _ts("中大型犬|medium and large dogs"),
                ),
            ),
            Kind(
                _t("狗狗牵引绳|dog leash"),
                (39, 159),
                (
                    _f(
                        "反光|reflective",
                        h=("反光条设计、夜间更安全|reflective strips keep night walks safe",),
                        u=("夜间遛狗|evening dog walks",),
                    ),
                    _f(
                        "自动伸缩|auto-retractable",
                        1.1,
                        m=("ABS外壳和尼龙带|an ABS case and nylon tape|Features",),
                        h=("一键锁定长度|one button locks the length",),
                    ),
                    _f(
                        "胸背式|harness-style",
                        h=("受力分散、不勒脖子|it spreads the pull and does not choke",),
                    ),
                    _f(
                        "防爆冲|anti-pull",
                        1.2,
                        h=("缓冲弹力绳、减轻爆冲拉力|a bungee section absorbs sudden pulls",),
                        s=("中大型犬",),
                    ),
                ),
                specs=_ts("小型犬|for small dogs", "中大型犬|for medium and large dogs"),
                materials=_ts(
                    "高密度尼龙织带|high-density nylon webbing",
                    "锌合金卡扣|zinc-alloy buckles",
                ),
                uses=_ts("日常遛狗|daily dog walks"),
            ),
            Kind(
                _t("猫抓板|cat scratcher"),
                (19, 129),
                (
                    _f(
                        "瓦楞纸|corrugated-cardboard",
                        0.8,
                        m=(_CORRUGATED,),
                        h=("高密度压制、不易掉屑|it is densely pressed and sheds few crumbs",),
                    ),
                    _f(
                        "立式|vertical",
                        1.3,
                        m=(_SISAL,),
                        h=(
                            "立柱稳固、猫咪可伸展抓挠|"
                            "a sturdy post lets cats stretch as they scratch",
                        ),
                    ),
                    _f(
                        "沙发型|sofa-shaped",
                        1.2,
                        m=(_CORRUGATED,),
                        h=("可抓可躺|cats can scratch it and lie on it",),
                    ),
                    _f(
                        "耐抓|scratch-resistant",
                        m=(_SISAL,),
                        h=("耐抓耐磨、经久耐用|it stands up to scratching and lasts a long time",),
                    ),
                ),
                uses=_ts(
                    "猫咪磨爪和休息|cats sharpening their claws and lounging",
                    "保护家中沙发|protecting the sofa at home",
                ),
            ),
        ),
    ),
    Category(
        name=_t("零食|Snacks"),
        brands=_ts("果园|Guoyuan", "馋嘴|Chanzui", "咔滋屋|Kaziwu", "嘉味坊|Jiaweifang"),
        variant_key=_t("口味|flavour"),
        variant_fmt=_t("{}|{} flavour"),
        highlights=_ts(
            "独立包装、方便携带|each portion is individually packed and easy to carry",
            "锁鲜包装、开袋即食|the sealed pack keeps it fresh and ready to eat",
        ),
        uses=_ts(
            "办公室下午茶|an office afternoon snack",
            "追剧和出游|binge-watching and outings",
            "送礼|gifts",
        ),
        kinds=(
            Kind(
                _t("每日坚果|daily mixed nuts"),
                (39, 99),
                (
                    _f(
                        "独立小包装|individually-packed",
                        h=("每天一小包、营养均衡|one small pack a day for balanced nutrition",),
                    ),
                    _f(
                        "高蛋白|high-protein",
                        1.1,
                        h=("坚果蛋白丰富、饱腹感强|it is rich in nut protein and filling",),
                    ),
                    _f(
                        "低温烘焙|slow-roasted",
                        1.1,
                        h=("低温慢烤、香脆不油腻|slow roasting keeps it crunchy and never greasy",),
                    ),
                    _f(
                        "无添加|additive-free",
                        h=("不额外添加糖和盐|no sugar or salt is added",),
                        v=(_ORIGINAL,),
                    ),
                ),
                specs=_ts("15包|15 packs", "30包|30 packs"),
                spec_price=0.9,
                variants=_ts(_ORIGINAL, "海盐味|sea salt", "蜂蜜味|honey"),
                materials=_ts(
                    "新疆核桃和巴旦木|walnuts and almonds from Xinjiang",
                    "进口腰果和蔓越莓干|imported cashews and dried cranberries",
                ),
            ),
            Kind(
                _t("牛肉干|beef jerky"),
                (49, 199),
                (
                    _f("内蒙古风干|Inner Mongolian air-dried", 1.2),
                    _f("手撕|hand-torn"),
                    _f("高蛋白|high-protein"),
                    _f("即食|ready-to-eat", 0.9),
                ),
                specs=_ts("250克|250 g", "500克|500 g"),
                spec_price=0.8,
                variants=_ts(_ORIGINAL, "香辣味|spicy", "五香味|five-spice", "孜然味|cumin"),
                materials=_ts("草原黄牛肉|grassland beef", "整块牛后腿肉|whole-cut beef hind leg"),
                highlights=_ts(
                    "肉质紧实有嚼劲|the meat is firm and chewy",
                    "越嚼越香|it gets tastier the more you chew",
                ),
            ),
            Kind(
                _t("曲奇饼干|cookies"),
                (19, 89),
                (
                    _f("手工|handmade", 1.2),
                    _f("丹麦风味|Danish-style", v=("黄油味|butter",)),
                    _f("低糖|low-sugar", 1.1),
                    _f("酥脆|crunchy", 0.9),
                ),
                specs=_ts("400克|400 g", "500克|500 g"),
                variants=_ts(
                    "黄油味|butter", "巧克力味|chocolate", "抹茶味|matcha", "海苔味|seaweed"
                ),
                materials=_ts(
                    "新西兰进口黄油|butter imported from New Zealand",
                    "优质小麦粉|high-quality wheat flour",
                ),
            ),
            Kind(
                _t("芒果干|dried mango"),
                (19, 79),
                (
                    _f("泰国|Thai", 1.1, m=("泰国本地芒果|mangoes grown in Thailand",)),
                    _f("软糯|soft and chewy", m=("新鲜台农芒果|fresh Tainong mangoes",)),
                    _f(
                        "厚切|thick-cut",
                        m=("新鲜台农芒果|fresh Tainong mangoes", "当季鲜果|fresh in-season fruit"),
                    ),
                    _f(
                        "无添加蔗糖|no-added-sugar",
                        1.1,
                        m=("当季鲜果|fresh in-season fruit",),
                        h=(
                            "不额外添加蔗糖、天然果甜|"
                            "no sugar is added, just the fruit's own sweetness",
                        ),
                        v=(_ORIGINAL,),
                    ),
                ),
                specs=_ts("250克|250 g", "500克|500 g"),
                variants=_ts(_ORIGINAL, "酸甜味|sweet-and-sour"),
                highlights=_ts(
                    "果肉厚实、酸甜可口|the flesh is thick, sweet and tangy",
                    "独立包装、方便携带|each portion is individually packed and easy to carry",
                ),
            ),
        ),
    ),
    Category(
        name=_t("床上用品|Bedding"),
        brands=_ts("梦栖|Mengqi", "棉语|Mianyu", "安眠坊|Anmianfang", "云枕|Yunzhen"),
        variants=_ts(
            "浅灰色|light grey", "米白色|off-white", "雾蓝色|misty blue", "豆沙粉|dusty pink"
        ),
        highlights=_ts(
            _SOFT_NO_PILL,
            "柔软舒适、一觉到天亮|it is soft and comfortable for sleeping through the night",
        ),
        uses=_ts(_BEDROOM, "学生宿舍|student dorms"),
        kinds=(
            Kind(
                _t("四件套|four-piece bedding set"),
                (199, 799),
                (
                    _f(
                        "纯棉|pure-cotton",
                        m=("100%新疆棉|100% Xinjiang cotton",),
                        h=(_SOFT_NO_PILL,),
                    ),
                    _f(
                        "60支长绒棉|60s long-staple cotton",
                        1.4,
                        m=("埃及长绒棉|Egyptian long-staple cotton",),
                        h=("细腻顺滑、有光泽|it is smooth with a soft sheen",),
                    ),
                    _f(
                        "水洗棉|washed-cotton",
                        0.9,
                        m=("水洗棉面料|washed cotton fabric",),
                        h=("越洗越柔软|it gets softer with every wash",),
                    ),
                    _f(
                        "简约北欧|Nordic minimalist",
                        1.1,
                        m=("天丝面料|Tencel fabric",),
                        h=(
                            "冰凉顺滑、夏天睡得舒服|"
                            "it is cool and silky for comfortable summer nights",
                        ),
                    ),
                ),
                specs=_ts(
                    "1.2米床|for 1.2 m beds", "1.5米床|for 1.5 m beds", "1.8米床|for 1.8 m beds"
                ),
                spec_uses=(
                    _ts("学生宿舍和单人床|student dorms and single beds"),
                    _ts(_BEDROOM),
                    _ts(_BEDROOM),
                ),
            ),
            Kind(
                _t("枕头|pillow"),
                (59, 299),
                (
                    _f("乳胶|latex", 1.2, m=("泰国天然乳胶|natural Thai latex",), h=(_NECK,)),
                    _f(
                        "记忆棉护颈|memory-foam neck-support",
                        m=("慢回弹记忆棉|slow-rebound memory foam",),
                        h=(
                            _NECK,
                            "软硬适中、支撑性好|"
                            "it is neither too soft nor too firm and gives good support",
                        ),
                    ),
                    _f(
                        "羽绒|down",
                        1.5,
                        m=("白鹅绒填充|white goose-down filling",),
                        h=("蓬松柔软|it is fluffy and soft",),
                    ),
                    _f(
                        "荞麦壳|buckwheat-hull",
                        0.8,
                        m=("天然荞麦壳填充|natural buckwheat-hull filling",),
                        h=("透气散热、可调节高度|it is breathable and its height can be adjusted",),
                    ),
                ),
                specs=_ts("单只装|single", "一对装|set of 2"),
                spec_price=0.8,
            ),
            Kind(
                _t("夏凉被|summer quilt"),
                (99, 399),
                (
                    _f(
                        "冰丝|ice-silk",
                        m=("凉感冰丝面料|cooling ice-silk fabric",),
                        h=("触感冰凉、吸湿透气|it feels cool and wicks moisture",),
                    ),
                    _f(
                        "可水洗|machine-washable",
                        0.9,
                        m=("水洗棉面料|washed cotton fabric",),
                        h=("可整床机洗|the whole quilt is machine washable",),
                    ),
                    _f(
                        "大豆纤维|soy-fibre",
                        1.1,
                        m=("大豆纤维填充|soy fibre filling",),
                        h=("轻薄蓬松、亲肤透气|it is light, fluffy and breathable",),
                    ),
                    _f("纯棉|pure-cotton", m=(_COTTON,), h=(_SOFT_NO_PILL,)),
                ),
                specs=_ts("150×200厘米|150 x 200 cm", "200×230厘米|200 x 230 cm"),
                spec_price=0.4,
                uses=_ts("夏季午睡|summer naps", "空调房|air-conditioned rooms"),
            ),
        ),
    ),
    Category(
        name=_t("文具|Stationery"),
        brands=_ts("墨客|Moke", "书香|Shuxiang", "青竹|Qingzhu", "笔友|Biyou"),
        audiences=_ts("|", "学生|student"),
        audience_uses=(_uses_for("学生", _STUDY, "课堂笔记|class notes"),),
        variants=_ts("黑色|black", "蓝色|blue", "红色|red", "粉色|pink"),
        uses=_ts(_STUDY, "办公记录|taking notes at work"),
        kinds=(
            Kind(
                _t("中性笔|gel pens"),
                (9.9, 39),
                (
                    _f("速干|quick-dry", h=("速干不晕染|the ink dries fast without smudging",)),
                    _f("按动|retractable", h=("按动出笔、单手书写|click and write with one hand",)),
                    _f(
                        "大容量|large-capacity",
                        1.1,
                        h=("墨水量大、书写更持久|more ink means they write for longer",),
                    ),
                    _f(
                        "考试专用|exam",
                        h=("书写流畅不断墨|they write smoothly without skipping",),
                        u=(_STUDY,),
                    ),
                ),
                specs=_ts(
                    "0.38毫米 12支装|0.38 mm, pack of 12", "0.5毫米 12支装|0.5 mm, pack of 12"
                ),
                spec_price=0.0,
                materials=_ts("进口笔头|imported tips", "顺滑中性墨水|smooth gel ink"),
            ),
            Kind(
                _t("笔记本|notebook"),
                (12, 69),
                (
                    _f("加厚|extra-thick"),
                    _f("活页|loose-leaf"),
                    _f("点阵|dot-grid"),
                    _f("复古皮面|vintage leather-cover", 1.3),
                ),
                specs=_ts("A5|A5", "B5|B5"),
                materials=_ts(
                    "加厚道林纸|thick woodfree paper", "护眼米黄内页|eye-friendly cream pages"
                ),
                highlights=_ts(
                    "钢笔书写不洇墨|fountain-pen ink does not bleed through",
                    "可180度平摊|it lies flat at 180 degrees",
                ),
                uses=_ts(_STUDY, "日记和手账|journaling and planners"),
            ),
            Kind(
                _t("钢笔|fountain pen"),
                (39, 299),
                (
                    _f(
                        "练字|calligraphy-practice",
                        0.8,
                        m=(_IRIDIUM,),
                        h=("出墨顺畅、笔画清晰|the ink flows smoothly and strokes come out crisp",),
                        u=("练字和学习|handwriting practice and study",),
                    ),
                    _f(
                        "商务|business",
                        1.5,
                        m=(_IRIDIUM,),
                        h=("握感舒适、书写不累|it is comfortable to hold for long writing",),
                        u=("办公签字和商务送礼|signing at the office and business gifts",),
                        a=("",),
                    ),
                    _f(
                        "金属|metal",
                        1.2,
                        m=("黄铜笔杆|a brass barrel|Features",),
                        h=("笔身沉稳有质感|it feels solid and substantial in the hand",),
                    ),
                    _f(
                        "透明示范|clear demonstrator",
                        m=("透明树脂笔杆|a clear resin barrel|Features",),
                        h=(
                            "透明笔杆、墨水余量一目了然|"
                            "the clear barrel shows how much ink is left",
                        ),
                        v=("透明|clear resin", "透明蓝|clear blue resin"),
                    ),
                ),
                specs=_ts("EF尖|EF nib", "F尖|F nib"),
                spec_price=0.0,
            ),
            Kind(
                _t("水彩颜料|watercolour paint set"),
                (29, 199),
                (
                    _f(
                        "固体|solid",
                        h=("色彩鲜艳、易混色|the colours are vivid and blend easily",),
                    ),
                    _f(
                        "便携|portable",
                        0.9,
                        h=("小巧便携、附赠水笔|it is small to carry and comes with a water brush",),
                        u=("户外写生|sketching outdoors",),
                    ),
                    _f(
                        "珠光|pearlescent",
                        1.1,
                        m=("珠光云母颜料|pearlescent mica pigments",),
                        h=(
                            "闪耀珠光、装饰手账也好看|"
                            "the shimmering colours also look lovely in planners",
                        ),
                    ),
                    _f(
                        "专业级|artist-grade",
                        1.6,
                        m=("天然阿拉伯树胶|natural gum arabic", _PIGMENTS),
                        h=("色彩通透、耐光性好|the colours are clear and lightfast",),
                    ),
                ),
                specs=_ts("24色|24 colours", "36色|36 colours", "48色|48 colours"),
                spec_price=0.6,
                variant_key=_t("包装|packaging"),
                variant_fmt=_t("{}|{}"),
                variants=_ts("铁盒装|in a tin case", "纸盒装|in a paper box"),
                materials=_ts(_PIGMENTS),
                uses=_ts("户外写生|sketching outdoors", "绘画练习|painting practice"),
                audience_uses=(
                    _uses_for("学生", "美术课和绘画练习|art classes and painting practice"),
                ),
            ),
        ),
    ),
    Category(
        name=_t("户外露营|Camping & Outdoors"),
        brands=_ts("野营家|Yeyingjia", "山行|Shanxing", "荒野|Huangye", "星空|Xingkong"),
        variants=_ts("军绿色|army green", "卡其色|khaki", "黑色|black", "橙色|orange"),
        uses=_ts(_PICNIC, "自驾游|road trips"),
        kinds=(
            Kind(
                _t("帐篷|tent"),
                (199, 899),
                (
                    _f(
                        "全自动速开|instant pop-up",
                        0.6,
                        m=(_OXFORD_210,),
                        h=("一分钟快速搭建|it sets up in one minute",),
                        u=(_PICNIC,),
                        s=("2人", "3-4人"),
                    ),
                    _f(
                        "防暴雨|storm-proof",
                        1.2,
                        m=(_OXFORD_210,),
                        h=(
                            "防水指数3000毫米、暴雨不渗漏|"
                            "rated to 3,000 mm, it stays dry in a downpour",
                        ),
                    ),
                    _f(
                        "双层|double-wall",
                        m=("内外帐双层结构|an inner tent and an outer fly|Features",),
                        h=(
                            "通风防蚊、不易结露|"
                            "it is well ventilated, keeps mosquitoes out and limits condensation",
                        ),
                    ),
                    _f(
                        "超轻|ultra-light",
                        1.6,
                        m=("铝合金帐杆|aluminium poles",),
                        h=("整帐仅重1.5公斤|the whole tent weighs only 1.5 kg",),
                        u=("徒步和骑行露营|hiking and bike camping",),
                        s=("2人",),
                    ),
                ),
                specs=_ts("2人|2-person", "3-4人|3-4 person", "5-8人|5-8 person"),
                spec_price=0.8,
            ),
            Kind(
                _t("睡袋|sleeping bag"),
                (99, 499),
                (
                    _f(
                        "信封式|envelope",
                        m=(_HOLLOW,),
                        h=(
                            "可完全展开当被子用|it opens out flat into a quilt",
                            "可机洗|it is machine washable",
                        ),
                    ),
                    _f(
                        "木乃伊式|mummy",
                        1.2,
                        m=(_HOLLOW,),
                        h=("贴合身形、保暖锁温|it hugs the body to keep the warmth in",),
                    ),
                    _f(
                        "羽绒|down",
                        2.0,
                        m=("白鸭绒填充|white duck-down filling",),
                        h=("蓬松保暖、压缩后体积小|it is lofty and warm and packs small",),
                    ),
                    _f(
                        "可拼接|zip-together",
                        m=(_HOLLOW,),
                        h=("两个可拼成双人睡袋|two zip together into a double",),
                    ),
                ),
                specs=_ts("舒适温度5℃|comfort 5°C", "舒适温度0℃|comfort 0°C"),
                uses=_ts("露营过夜|overnight camping", "自驾游和户外徒步|road trips and hiking"),
            ),
            Kind(
                _t("折叠椅|folding chair"),
                (59, 299),
                (
                    _f(
                        "铝合金超轻|ultra-light aluminium",
                        1.2,
                        m=("7075铝合金支架|a 7075 aluminium frame|Features",),
                        h=("收纳小巧、易携带|it packs small and is easy to carry",),
                    ),
                    _f(
                        "加宽加厚|extra-wide",
                        m=(_OXFORD_600,),
                        h=("承重150公斤|it holds up to 150 kg",),
                    ),
                    _f(
                        "克米特|Kermit-style",
                        1.3,
                        m=("榉木支架|a beech-wood frame|Features",),
                        h=("复古原木风、拍照好看|its retro wooden look photographs well",),
                    ),
                    _f(
                        "可躺|reclining",
                        1.1,
                        m=(_OXFORD_600,),
                        h=(
                            "靠背多档可调、能坐能躺|"
                            "the backrest adjusts so you can sit or lie back",
                        ),
                    ),
                ),
                uses=_ts(_PICNIC, "自驾游|road trips", "户外钓鱼|fishing outdoors"),
            ),
            Kind(
                _t("露营灯|camping lantern"),
                (39, 199),
                (
                    _f(
                        "充电式|rechargeable",
                        h=(
                            "三档调光、续航长达20小时|"
                            "three brightness levels and up to 20 hours per charge",
                        ),
                    ),
                    _f(
                        "复古|vintage",
                        1.1,
                        h=("暖黄光、氛围感强|a warm yellow glow sets the mood",),
                    ),
                    _f(
                        "太阳能|solar",
                        1.1,
                        m=("太阳能板和锂电池|a solar panel and a lithium battery|Features",),
                        h=("太阳能和USB双充电|it charges by solar power or USB",),
                    ),
                    _f(
                        "磁吸挂钩|magnetic-hook",
                        h=("可吸在车身或挂在帐篷里|it sticks to the car or hangs in the tent",),
                    ),
                ),
                materials=_ts(
                    "高亮LED灯珠|bright LED beads",
                    "大容量锂电池|a high-capacity lithium battery|Features",
                ),
                uses=_ts(
                    "露营和停电应急|camping and power cuts",
                    "夜钓和庭院照明|night fishing and garden lighting",
                ),
            ),
        ),
    ),
)

_SMALL_WORDS = frozenset({"a", "an", "and", "for", "in", "of", "on", "the", "to", "with"})


def _title_case(text: str) -> str:
    """Capitalise each word of an English title except small words (``"3-in-1"`` stays)."""
    words = []
    for i, word in enumerate(text.split()):
        parts = word.split("-")
        words.append(
            "-".join(
                p if (i or j) and p in _SMALL_WORDS else p[:1].upper() + p[1:]
                for j, p in enumerate(parts)
            )
        )
    return " ".join(words)


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _shop_price(value: float) -> float:
    """Round to a shop price: 39.9 under 100 CNY, 129.0 above (always at least 9.9)."""
    if value < 100:
        return max(9.9, round(round(value) - 0.1, 1))
    return float(round(value / 10) * 10 - 1)


@dataclass(frozen=True)
class _Parts:
    """What a product of a kind with a given feature, audience and spec may be composed of."""

    materials: tuple[Term, ...]
    highlights: tuple[Term, ...]
    variants: tuple[Term, ...]
    uses: tuple[Term, ...]


def _parts(cat: Category, kind: Kind, feature: Feature, audience: str, spec: int) -> _Parts:
    """The lists a product draws from: the most specific non-empty one (see the module docs)."""
    spec_variants = kind.spec_variants[spec] if kind.spec_variants else ()
    spec_uses = kind.spec_uses[spec] if kind.spec_uses else ()
    audience_uses = dict(cat.audience_uses) | dict(kind.audience_uses)
    return _Parts(
        materials=feature.materials or kind.materials or cat.materials,
        highlights=feature.highlights or kind.highlights or cat.highlights,
        variants=feature.variants or spec_variants or kind.variants or cat.variants,
        uses=(
            audience_uses.get(audience, ()) or feature.uses or spec_uses or kind.uses or cat.uses
        ),
    )


def _combos(cat: Category) -> list[tuple[int, int, int, int, int]]:
    """Every ``(kind, brand, feature, audience, spec)`` the category's lists allow."""
    combos: list[tuple[int, int, int, int, int]] = []
    for k, kind in enumerate(cat.kinds):
        audiences = kind.audiences or cat.audiences
        specs = kind.specs or (NO_TERM,)
        for f, feature in enumerate(kind.features):
            for a, audience in enumerate(audiences):
                if feature.audiences is not None and audience.zh not in feature.audiences:
                    continue
                for s, spec in enumerate(specs):
                    if feature.specs and spec.zh not in feature.specs:
                        continue
                    combos.extend((k, b, f, a, s) for b in range(len(cat.brands)))
    return combos


@dataclass(frozen=True)
class _Product:
    item_id: str
    category: int  # index into CATEGORIES
    kind: int  # index into the category's kinds
    brand: Term
    feature: Term
    audience: Term
    spec: Term
    material: Term
    highlight: Term
    variant: Term
    variant_key: Term
    variant_fmt: Term
    use: Term
    price: float
    in_stock: bool
    launch: float  # Unix seconds: updated_at
    translated: bool

    @property
    def kind_name(self) -> Term:
        return CATEGORIES[self.category].kinds[self.kind].name

    def title(self, lang: str) -> str:
        brand, feature, aud = (getattr(t, lang) for t in (self.brand, self.feature, self.audience))
        kind, spec = getattr(self.kind_name, lang), getattr(self.spec, lang)
        if lang == "zh":
            return f"{brand} {feature}{aud}{kind}" + (f" {spec}" if spec else "")
        before, after = ("", aud) if aud.startswith("for ") else (aud, "")
        head = _title_case(" ".join(w for w in (feature, before, kind, after) if w))
        return f"{brand} {head}" + (f", {spec}" if spec else "")

    def description(self, lang: str) -> str:
        variant = getattr(self.variant_fmt, lang).format(getattr(self.variant, lang))
        if lang == "zh":
            return f"采用{self.material.zh}，{self.highlight.zh}。{variant}，适合{self.use.zh}。"
        return (
            f"{self.material.lead or 'Made with'} {self.material.en}; {self.highlight.en}. "
            f"{_capitalise(variant)}, ideal for {self.use.en}."
        )

    def attributes(self) -> str:
        attrs = {"product_type": self.kind_name.zh, "品牌": self.brand.zh}
        attrs[self.variant_key.zh] = self.variant.zh
        if self.audience.zh:
            attrs["适用人群"] = self.audience.zh
        if self.spec.zh:
            attrs["规格"] = self.spec.zh
        attrs["材质"] = self.material.zh
        return json.dumps(attrs, ensure_ascii=False)


def _check(seed: int, days: int, n_users: int = 1) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise InvalidInputError(f"days must be an integer >= 1, got {days!r}")
    if isinstance(n_users, bool) or not isinstance(n_users, int) or n_users < 1:
        raise InvalidInputError(f"n_users must be an integer >= 1, got {n_users!r}")


def _pick(rng: np.random.Generator, terms: tuple[Term, ...]) -> Term:
    return terms[int(rng.integers(len(terms)))]


def _products(seed: int, days: int) -> list[_Product]:
    """Compose the catalog: one seeded draw of parts per product (see module docs)."""
    rng = np.random.default_rng([seed, 0])  # the catalog's own stream: independent of shoppers
    n_total = len(CATEGORIES) * PRODUCTS_PER_CATEGORY
    new = set(rng.choice(n_total, size=round(NEW_SHARE * n_total), replace=False).tolist())
    end = START_TS + days * DAY
    products: list[_Product] = []
    for c, cat in enumerate(CATEGORIES):
        translated = set(
            rng.choice(PRODUCTS_PER_CATEGORY, TRANSLATED_PER_CATEGORY, replace=False).tolist()
        )
        combos = _combos(cat)
        # spread products over the kinds first, then draw the other parts within each kind
        by_kind = [[x for x in combos if x[0] == k] for k in range(len(cat.kinds))]
        for rows in by_kind:
            order = rng.permutation(len(rows))
            rows[:] = [rows[i] for i in order]
        picks = [by_kind[i % len(by_kind)][i // len(by_kind)] for i in range(PRODUCTS_PER_CATEGORY)]
        for j, (k, b, f, a, s) in enumerate(picks):
            kind = cat.kinds[k]
            feature = kind.features[f]
            audience = (kind.audiences or cat.audiences)[a]
            specs = kind.specs or (NO_TERM,)
            parts = _parts(cat, kind, feature, audience.zh, s)
            n = len(products)
            lo, hi = kind.price
            size = 1.0 + kind.spec_price * s / max(1, len(specs) - 1)  # a bigger spec costs more
            price = _shop_price((lo + (hi - lo) * rng.beta(1.5, 2.5)) * feature.price * size)
            if n in new:
                launch = START_TS + round(rng.uniform(*NEW_WINDOW) * (end - START_TS))
            else:
                launch = START_TS - round(rng.uniform(7, 365) * DAY)
            products.append(
                _Product(
                    item_id=f"sku{n + 1:04d}",
                    category=c,
                    kind=k,
                    brand=cat.brands[b],
                    feature=feature.name,
                    audience=audience,
                    spec=specs[s],
                    material=_pick(rng, parts.materials),
                    highlight=_pick(rng, parts.highlights),
                    variant=_pick(rng, parts.variants),
                    variant_key=kind.variant_key or cat.variant_key,
                    variant_fmt=kind.variant_fmt or cat.variant_fmt,
                    use=_pick(rng, parts.uses),
                    price=price,
                    in_stock=bool(rng.random() < IN_STOCK_SHARE),
                    launch=float(launch),
                    translated=j in translated,
                )
            )
    return products


def _catalog_frame(products: list[_Product]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "item_id": [p.item_id for p in products],
            "title": [p.title("zh") for p in products],
            "description": [p.description("zh") for p in products],
            "category": [CATEGORIES[p.category].name.zh for p in products],
            "price": [p.price for p in products],
            "currency": ["CNY"] * len(products),
            "in_stock": [p.in_stock for p in products],
            "attributes": [p.attributes() for p in products],
            "updated_at": [p.launch for p in products],
        },
        schema=ITEM_SCHEMA,
    )


def zh_catalog(seed: int = 7, days: int = 60) -> pl.DataFrame:
    """The synthetic Chinese catalog: 360 products in 15 categories.

    Args:
        seed: the catalog's seed; the same seed gives the same frame.
        days: length of the simulated period; the 15% new products launch inside its last quarter.

    Returns:
        One row per product with the store's catalog columns: ``item_id`` (``"sku0001"``...),
        ``title`` and ``description`` (Chinese), ``category`` (Chinese name), ``price``
        (Float64, CNY), ``currency`` (``"CNY"``), ``in_stock`` (Boolean), ``attributes`` (JSON
        text with ``product_type``, 品牌, the variant and more) and ``updated_at`` (Unix seconds:
        the launch time).

    Raises:
        InvalidInputError: a negative or non-integer seed, or ``days < 1``.

    Example:
        >>> zh_catalog().row(0, named=True)["currency"]
        'CNY'
    """
    _check(seed, days)
    return _catalog_frame(_products(seed, days))


def zh_translations(seed: int = 7, days: int = 60) -> pl.DataFrame:
    """English translations of a seeded third of :func:`zh_catalog`'s products (120 of 360).

    Each translation is composed from the English twins of the parts that made the Chinese text,
    so it says what the Chinese title and description say.

    Args:
        seed: the catalog's seed (the same as for :func:`zh_catalog`).
        days: as for :func:`zh_catalog` (the texts do not depend on it).

    Returns:
        Columns ``item_id``, ``title_en``, ``description_en``, ``category_en`` (all String), in
        catalog order.

    Raises:
        InvalidInputError: as for :func:`zh_catalog`.
    """
    _check(seed, days)
    chosen = [p for p in _products(seed, days) if p.translated]
    return pl.DataFrame(
        {
            "item_id": [p.item_id for p in chosen],
            "title_en": [p.title("en") for p in chosen],
            "description_en": [p.description("en") for p in chosen],
            "category_en": [CATEGORIES[p.category].name.en for p in chosen],
        },
        schema={
            "item_id": pl.String,
            "title_en": pl.String,
            "description_en": pl.String,
            "category_en": pl.String,
        },
    )


@dataclass(frozen=True)
class _Taste:
    """A shopper's taste within one favourite category."""

    category: int
    weight: float  # share of the shopper's favourite-category picks
    kind: int  # preferred kind (index into the category's kinds)
    audience: str  # preferred audience (Chinese; "" is the unmarked one)
    tier: int  # preferred price tier: index into PRICE_TIERS


@dataclass(frozen=True)
class _Shopper:
    tastes: tuple[_Taste, ...]
    sensitivity: float  # price sensitivity in [0, 1]


def _shoppers(seed: int, n_users: int, products: list[_Product]) -> list[_Shopper]:
    """Every shopper's hidden tastes, from their own stream (user k's do not depend on n_users).

    A preferred audience is one that the catalog offers for the preferred kind.
    """
    rng = np.random.default_rng([seed, 2])
    n_cat = len(CATEGORIES)
    present = {(p.category, p.kind, p.audience.zh) for p in products}
    offered = {
        (c, k): [a.zh for a in kind.audiences or cat.audiences if (c, k, a.zh) in present]
        for c, cat in enumerate(CATEGORIES)
        for k, kind in enumerate(cat.kinds)
    }
    category_pop = rng.dirichlet(np.full(n_cat, 5.0))  # some categories draw more shoppers
    shoppers = []
    log_pop = np.log(category_pop)
    n_fav_cum = _cumulative(np.array([0.3, 0.45, 0.25]))  # 1, 2 or 3 favourite categories
    for _ in range(n_users):
        n_fav = _draw(rng, n_fav_cum) + 1
        # favourites drawn without replacement in proportion to category_pop (Gumbel top-k)
        favs = [int(c) for c in np.argsort(-(log_pop + rng.gumbel(size=n_cat)))[:n_fav]]
        weights = rng.dirichlet(np.full(n_fav, 2.0))
        sensitivity = float(rng.beta(2.0, 2.0))
        tier_cum = _cumulative(np.array([0.5 + sensitivity, 1.0, 1.5 - sensitivity]))
        tastes = []
        for c, weight in zip(favs, weights, strict=True):
            cat = CATEGORIES[c]
            k = int(rng.integers(len(cat.kinds)))
            audiences = offered[c, k]
            audience = audiences[int(rng.integers(len(audiences)))]
            tier = _draw(rng, tier_cum)  # sensitive shoppers lean to the cheaper tiers
            tastes.append(_Taste(c, float(weight), k, audience, tier))
        shoppers.append(_Shopper(tuple(tastes), sensitivity))
    return shoppers


def _cumulative(weights: np.ndarray) -> np.ndarray:
    return np.cumsum(weights / weights.sum())


def _draw(rng: np.random.Generator, cumulative: np.ndarray) -> int:
    """Index drawn from cumulative probabilities (the last one guards against rounding)."""
    return min(len(cumulative) - 1, int(np.searchsorted(cumulative, rng.random())))


def _draw_weighted(rng: np.random.Generator, weights: np.ndarray) -> int:
    """Index drawn in proportion to ``weights`` (never a zero weight); -1 if all are zero."""
    cumulative = weights.cumsum()
    total = cumulative[-1]
    if total <= 0:
        return -1
    i = int(cumulative.searchsorted(rng.random() * total, side="right"))
    return i if i < len(weights) else int(np.flatnonzero(weights)[-1])  # rounding at the top


class _Shop:
    """The simulated world: products, their popularity and similarity, and the events so far."""

    def __init__(self, products: list[_Product], rng: np.random.Generator, days: int) -> None:
        self.products = products
        self.rng = rng
        self.end = START_TS + days * DAY
        self.days = days
        n_cat = len(CATEGORIES)
        self.launch = np.array([p.launch for p in products])
        self.in_stock = np.array([p.in_stock for p in products])
        self.kind = np.array([p.kind for p in products])
        self.audience = np.array([p.audience.zh for p in products])
        price = np.array([p.price for p in products])
        self.members = [
            np.array([i for i, p in enumerate(products) if p.category == c]) for c in range(n_cat)
        ]
        # popularity: Zipf within each category, a novelty boost for products launched in the
        # period; prices relative to the kind's median, price tiers: thirds of the kind by price
        self.popularity = np.empty(len(products))
        self.rel_price = np.empty(len(products))
        self.tier = np.empty(len(products), dtype=np.int64)
        for idx in self.members:
            for k in np.unique(self.kind[idx]):
                same = idx[self.kind[idx] == k]
                ranks = np.arange(1, len(same) + 1)[rng.permutation(len(same))]
                self.popularity[same] = ranks**-ZIPF
                self.rel_price[same] = price[same] / np.median(price[same])
                rank = np.argsort(np.argsort(price[same], kind="stable"), kind="stable")
                self.tier[same] = np.minimum(2, 3 * rank // len(same))
        self.popularity[self.launch >= START_TS] *= NOVELTY
        self.stock_weight = np.where(self.in_stock, 1.0, OUT_OF_STOCK_VIEW)
        # similar items: same category, weighted by shared kind, feature, brand and audience
        self.similar: list[np.ndarray] = []
        for i, p in enumerate(products):
            idx = self.members[p.category]
            shared = np.array(
                [
                    2.0 * (q.kind == p.kind)
                    + (q.feature == p.feature)
                    + (q.brand == p.brand)
                    + (q.audience == p.audience and bool(p.audience.zh))
                    for q in (products[j] for j in idx)
                ]
            )
            w = self.popularity[idx] * self.stock_weight[idx] * shared**2
            w[idx == i] = 0.0
            self.similar.append(w)
        self.hour_cum = _cumulative(np.array(HOUR_WEIGHTS))
        self.columns: dict[str, list[str]] = {"user_id": [], "item_id": [], "type": []}
        self.sessions: list[str] = []
        self.stamps: list[float] = []

    def emit(self, user: str, item: int, kind: str, ts: float, session: str) -> None:
        self.columns["user_id"].append(user)
        self.columns["item_id"].append(self.products[item].item_id)
        self.columns["type"].append(kind)
        self.stamps.append(ts)
        self.sessions.append(session)

    def shopper(self, user: str, who: _Shopper) -> None:
        """Simulate one shopper's sessions (see the module docstring)."""
        rng, n_cat = self.rng, len(CATEGORIES)
        favs = [pref.category for pref in who.tastes]
        liked = {pref.category: pref for pref in who.tastes}
        fav_cum = _cumulative(np.array([pref.weight for pref in who.tastes]))
        sensitivity = who.sensitivity
        base = self.popularity * self.rel_price ** (-1.5 * sensitivity) * self.stock_weight
        weights = [base[idx] for idx in self.members]  # outside the favourites: no tastes
        for pref in who.tastes:
            idx = self.members[pref.category]
            weights[pref.category] = (
                base[idx]
                * np.where(self.kind[idx] == pref.kind, TASTE_KIND, 1.0)
                * np.where(self.audience[idx] == pref.audience, TASTE_AUDIENCE, 1.0)
                * np.where(self.tier[idx] == pref.tier, TASTE_TIER, 1.0)
            )

        def pick(ts: float, seen: np.ndarray) -> int:
            """A product launched by ``ts`` and not seen yet, drawn from the shopper's tastes."""
            explore = rng.random() < EXPLORE
            c = int(rng.integers(n_cat)) if explore else favs[_draw(rng, fav_cum)]
            idx = self.members[c]
            i = _draw_weighted(rng, weights[c] * (self.launch[idx] <= ts) * ~seen[idx])
            return int(idx[i]) if i >= 0 else -1

        day = float(rng.integers(self.days))  # the day the shopper arrives
        t = START_TS
        for s in range(1 + int(rng.poisson(SESSIONS_MEAN))):
            if s:
                day += np.floor(rng.exponential(SESSION_GAP_DAYS)) + 1
            hour = _draw(rng, self.hour_cum)
            start = START_TS + day * DAY + hour * 3600.0 + float(rng.integers(3600))
            t = max(t + 1800.0, start) if s else start  # sessions never overlap
            if t >= self.end:
                break
            session = f"{user}-s{s + 1:02d}"
            carted: list[int] = []
            seen = np.zeros(len(self.products), dtype=bool)
            last = -1
            for _ in range(min(30, int(rng.geometric(1.0 / VIEWS_MEAN)))):
                i = -1
                if last >= 0 and rng.random() < SIMILAR:
                    idx = self.members[self.products[last].category]
                    j = _draw_weighted(
                        rng, self.similar[last] * (self.launch[idx] <= t) * ~seen[idx]
                    )
                    i = int(idx[j]) if j >= 0 else -1
                if i < 0:
                    i = pick(t, seen)
                if i < 0:
                    break  # nothing unseen left in the category: the session ends
                seen[i] = True
                if rng.random() < CLICK_FIRST:
                    self.emit(user, i, "click", t, session)
                    t += float(rng.integers(1, 4))
                self.emit(user, i, "view", t, session)
                dwell = float(rng.integers(20, 181))
                taste = liked.get(self.products[i].category)
                if taste is None:
                    affinity = CART_EXPLORE
                else:
                    affinity = CART_TASTE if self.kind[i] == taste.kind else CART_OTHER_KIND
                p_cart = CART * affinity * self.rel_price[i] ** (-0.5 * sensitivity)
                if rng.random() < p_cart and self.in_stock[i]:
                    self.emit(user, i, "add_to_cart", t + dwell // 2, session)
                    carted.append(i)
                t += dwell
                last = i
            for i in carted:
                if rng.random() < BUY * self.rel_price[i] ** (-0.3 * sensitivity):
                    t += float(rng.integers(30, 121))
                    self.emit(user, i, "purchase", t, session)

    def events(self) -> pl.DataFrame:
        frame = pl.DataFrame(
            {**self.columns, "ts": self.stamps, "session_id": self.sessions},
            schema=EVENT_SCHEMA,
        )
        return frame.filter(pl.col("ts") < self.end).sort(["user_id", "ts"], maintain_order=True)


def _user_ids(n_users: int) -> list[str]:
    width = max(4, len(str(n_users)))
    return [f"u{u + 1:0{width}d}" for u in range(n_users)]


def zh_shop(
    seed: int = 7, n_users: int = 1500, days: int = 60
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The synthetic ``zh-shop`` demo: simulated shoppers' events and the Chinese catalog.

    Args:
        seed: seed of the catalog and the shoppers; the same arguments give the same frames.
        n_users: how many shoppers to simulate (``u0001``...).
        days: length of the period, from 2026-09-01 00:00 Asia/Shanghai.

    Returns:
        ``(events, catalog)``: ``events`` has columns ``user_id``, ``item_id``, ``type``
        (``view``, ``click``, ``add_to_cart``, ``purchase``), ``ts`` (Float64, whole Unix
        seconds) and ``session_id``, sorted by ``(user_id, ts)``; at the defaults about 26,000
        views, 10% of them carted and about 40% of the carts bought. ``catalog`` is
        :func:`zh_catalog` for the same ``seed`` and ``days``; :func:`zh_tastes` lists the
        shoppers' hidden tastes.

    Raises:
        InvalidInputError: a negative or non-integer seed, ``n_users < 1`` or ``days < 1``.

    Example:
        >>> events, catalog = zh_shop(n_users=20)
        >>> sorted(events["type"].unique())[:2]
        ['add_to_cart', 'click']
    """
    _check(seed, days, n_users)
    products = _products(seed, days)
    shop = _Shop(products, np.random.default_rng([seed, 1]), days)  # the sessions' own stream
    for user, who in zip(_user_ids(n_users), _shoppers(seed, n_users, products), strict=True):
        shop.shopper(user, who)
    return shop.events(), _catalog_frame(products)


def zh_tastes(seed: int = 7, n_users: int = 1500) -> pl.DataFrame:
    """The hidden tastes of :func:`zh_shop`'s shoppers: known answers for evaluations.

    Args:
        seed: as for :func:`zh_shop`.
        n_users: as for :func:`zh_shop`; user ``k``'s tastes do not depend on it.

    Returns:
        One row per shopper and favourite category, in user order: ``user_id``, ``category``
        (Chinese name), ``weight`` (Float64: the category's share of the shopper's
        favourite-category picks), ``kind`` (the preferred kind's Chinese noun, as in the
        catalog's ``product_type``), ``audience`` (the preferred audience as in the catalog's
        适用人群, one the catalog offers for that kind; ``""`` for the unmarked one),
        ``price_tier`` (``"budget"``, ``"mid"`` or ``"premium"``: the preferred third of each
        kind by price) and ``price_sensitivity`` (Float64 in [0, 1], the same on all of a
        shopper's rows).

    Raises:
        InvalidInputError: a negative or non-integer seed or ``n_users < 1``.

    Example:
        >>> zh_tastes(n_users=3)["user_id"].unique(maintain_order=True).to_list()
        ['u0001', 'u0002', 'u0003']
    """
    _check(seed, 1, n_users)
    rows = [
        (
            user,
            CATEGORIES[t.category].name.zh,
            t.weight,
            CATEGORIES[t.category].kinds[t.kind].name.zh,
            t.audience,
            PRICE_TIERS[t.tier],
            who.sensitivity,
        )
        for user, who in zip(
            _user_ids(n_users), _shoppers(seed, n_users, _products(seed, 1)), strict=True
        )
        for t in who.tastes
    ]
    return pl.DataFrame(
        rows,
        schema={
            "user_id": pl.String,
            "category": pl.String,
            "weight": pl.Float64,
            "kind": pl.String,
            "audience": pl.String,
            "price_tier": pl.String,
            "price_sensitivity": pl.Float64,
        },
        orient="row",
    )
