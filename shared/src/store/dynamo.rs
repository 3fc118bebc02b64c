//! The DynamoDB adapter: one table (`pk`, `sk`), GSI `gsi1` and the sparse GSI `due`.
//! Gets and table queries are strongly consistent; index queries are eventually consistent by
//! DynamoDB's rules, which the sweeps tolerate because every claim is version-checked.

use super::{
    Condition, Index, Item, ItemStore, Key, Page, Query, SortRange, StoreError, Write,
    decode_cursor, encode_cursor, validate_item, validate_transaction,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, PutRequest, ScalarAttributeType,
    TransactWriteItem, Update, WriteRequest,
};
use std::collections::{BTreeMap, HashMap};

type AttributeMap = HashMap<String, AttributeValue>;

/// DynamoDB's limit of requests in one BatchWriteItem.
const BATCH_WRITE_LIMIT: usize = 25;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// A condition as DynamoDB expression parts, built from the typed condition only.
struct Expression {
    text: String,
    names: HashMap<String, String>,
    values: AttributeMap,
}

fn condition_expression(condition: &Condition) -> Option<Expression> {
    let simple = |text: &str| Expression {
        text: text.to_string(),
        names: HashMap::new(),
        values: HashMap::new(),
    };
    match condition {
        Condition::Always => None,
        Condition::Absent => Some(simple("attribute_not_exists(pk)")),
        Condition::Exists => Some(simple("attribute_exists(pk)")),
        Condition::VersionIs(version) => Some(Expression {
            text: "#version = :version".into(),
            names: HashMap::from([("#version".into(), "version".into())]),
            values: HashMap::from([(":version".into(), AttributeValue::N(version.to_string()))]),
        }),
        Condition::AttrEquals { name, value } => Some(Expression {
            text: "#attr = :attr".into(),
            names: HashMap::from([("#attr".into(), name.clone())]),
            values: HashMap::from([(":attr".into(), AttributeValue::S(value.clone()))]),
        }),
    }
}

fn key_map(key: &Key) -> AttributeMap {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(key.pk.clone())),
        ("sk".to_string(), AttributeValue::S(key.sk.clone())),
    ])
}

fn to_attributes(item: &Item) -> Result<AttributeMap, StoreError> {
    let mut map = key_map(&item.key);
    map.insert(
        "version".into(),
        AttributeValue::N(item.version.to_string()),
    );
    let body = serde_json::to_string(&item.body).map_err(|source| StoreError::Malformed {
        key: item.key.clone(),
        source,
    })?;
    map.insert("body".into(), AttributeValue::S(body));
    if let Some(expires_at) = item.expires_at {
        map.insert(
            "expires_at".into(),
            AttributeValue::N(expires_at.to_string()),
        );
    }
    for (name, value) in &item.attrs {
        map.insert(name.clone(), AttributeValue::S(value.clone()));
    }
    Ok(map)
}

fn string_attr(map: &AttributeMap, name: &str) -> Result<String, StoreError> {
    match map.get(name) {
        Some(AttributeValue::S(value)) => Ok(value.clone()),
        _ => Err(StoreError::MalformedAttribute(format!(
            "{name} is missing or not a string"
        ))),
    }
}

fn number_attr(map: &AttributeMap, name: &str) -> Result<Option<i64>, StoreError> {
    match map.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(value)) => value
            .parse()
            .map(Some)
            .map_err(|_| StoreError::MalformedAttribute(format!("{name} is not an integer"))),
        Some(_) => Err(StoreError::MalformedAttribute(format!(
            "{name} is not a number"
        ))),
    }
}

fn from_attributes(map: &AttributeMap) -> Result<Item, StoreError> {
    let key = Key::new(string_attr(map, "pk")?, string_attr(map, "sk")?);
    let version = number_attr(map, "version")?
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| StoreError::MalformedAttribute("version".into()))?;
    let body = serde_json::from_str(&string_attr(map, "body")?).map_err(|source| {
        StoreError::Malformed {
            key: key.clone(),
            source,
        }
    })?;
    let mut attrs = BTreeMap::new();
    for (name, value) in map {
        if super::RESERVED_ATTRIBUTES.contains(&name.as_str()) {
            continue;
        }
        if let AttributeValue::S(text) = value {
            attrs.insert(name.clone(), text.clone());
        }
    }
    Ok(Item {
        key,
        version,
        attrs,
        body,
        expires_at: number_attr(map, "expires_at")?,
    })
}

fn cursor_of(query: &Query, map: &AttributeMap) -> String {
    let position: BTreeMap<String, String> = map
        .iter()
        .filter_map(|(name, value)| value.as_s().ok().map(|s| (name.clone(), s.clone())))
        .collect();
    encode_cursor(query, &position)
}

/// The attributes of a query's start key (the table's keys, and the index's) and its partition.
fn start_key_attributes(query: &Query) -> (Vec<&'static str>, &'static str) {
    match query.index {
        None => (vec!["pk", "sk"], "pk"),
        Some(index) => {
            let (pk, sk) = index.key_attributes();
            (vec!["pk", "sk", pk, sk], pk)
        }
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table with its indexes if it does not exist (tests and `devserver --aws`;
    /// in AWS the SAM template owns the table).
    pub async fn create_table_if_missing(&self) -> Result<(), StoreError> {
        let exists = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .is_ok();
        if exists {
            return Ok(());
        }
        let string_key = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(StoreError::backend)
        };
        let key_element = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .map_err(StoreError::backend)
        };
        let mut request = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key_element("pk", KeyType::Hash)?)
            .key_schema(key_element("sk", KeyType::Range)?);
        for name in ["pk", "sk", "gsi1pk", "gsi1sk", "due_pk", "due_sk"] {
            request = request.attribute_definitions(string_key(name)?);
        }
        for index in Index::ALL {
            let (pk, sk) = index.key_attributes();
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name())
                    .key_schema(key_element(pk, KeyType::Hash)?)
                    .key_schema(key_element(sk, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(StoreError::backend)?,
            );
        }
        request.send().await.map_err(StoreError::backend)?;
        Ok(())
    }

    fn transact_item(&self, write: &Write) -> Result<TransactWriteItem, StoreError> {
        let expression = condition_expression(write.condition());
        let (text, names, values) = match expression {
            Some(e) => (
                Some(e.text),
                (!e.names.is_empty()).then_some(e.names),
                (!e.values.is_empty()).then_some(e.values),
            ),
            None => (None, None, None),
        };
        let item = match write {
            Write::Put { item, .. } => TransactWriteItem::builder().put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_attributes(item)?))
                    .set_condition_expression(text)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(StoreError::backend)?,
            ),
            Write::Delete { key, .. } => TransactWriteItem::builder().delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_map(key)))
                    .set_condition_expression(text)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(StoreError::backend)?,
            ),
            Write::Add { key, delta } => TransactWriteItem::builder().update(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_map(key)))
                    .update_expression(ADD_EXPRESSION)
                    .set_expression_attribute_names(Some(add_names()))
                    .set_expression_attribute_values(Some(add_values(*delta)))
                    .build()
                    .map_err(StoreError::backend)?,
            ),
            Write::Check { key, .. } => TransactWriteItem::builder().condition_check(
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_map(key)))
                    // A check needs an expression; `Always` checks that nothing is required.
                    .condition_expression(text.unwrap_or_else(|| {
                        "attribute_exists(pk) OR attribute_not_exists(pk)".into()
                    }))
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(StoreError::backend)?,
            ),
        };
        Ok(item.build())
    }
}

/// A fresh idempotency token for one `TransactWriteItems` call (at most 36 characters).
fn client_request_token() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

fn transaction_error(
    error: SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>,
    writes: &[Write],
) -> StoreError {
    if let SdkError::ServiceError(service) = &error
        && let TransactWriteItemsError::TransactionCanceledException(cancelled) = service.err()
    {
        let reasons = cancelled.cancellation_reasons();
        if let Some(index) = reasons
            .iter()
            .position(|r| r.code() == Some("ConditionalCheckFailed"))
            && let Some(write) = writes.get(index)
        {
            return StoreError::ConditionFailed {
                index,
                key: write.key().clone(),
            };
        }
        if reasons
            .iter()
            .any(|r| r.code() == Some("TransactionConflict"))
        {
            return StoreError::Conflict;
        }
        if reasons.iter().any(|r| r.code() == Some("ThrottlingError")) {
            return StoreError::Throttled;
        }
    }
    if let SdkError::ServiceError(service) = &error
        && matches!(
            service.err(),
            TransactWriteItemsError::TransactionInProgressException(_)
        )
    {
        // The same request token is still running: it may yet commit, so deciding again with
        // a new token could apply the decision twice.
        return StoreError::OutcomeUnknown;
    }
    StoreError::backend(error)
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::backend)?;
        output.item().map(from_attributes).transpose()
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        crate::store::validate_batch_get(keys)?;
        let mut found: std::collections::HashMap<Key, Item> = std::collections::HashMap::new();
        let mut pending: Vec<_> = keys.iter().map(key_map).collect();
        let mut round = 0u32;
        while !pending.is_empty() {
            let request = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .map_err(StoreError::backend)?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(StoreError::backend)?;
            for attributes in output
                .responses()
                .and_then(|tables| tables.get(&self.table))
                .into_iter()
                .flatten()
            {
                let item = from_attributes(attributes)?;
                found.insert(item.key.clone(), item);
            }
            pending = output
                .unprocessed_keys()
                .and_then(|tables| tables.get(&self.table))
                .map(|left| left.keys().to_vec())
                .unwrap_or_default();
            // Throttled keys come back unprocessed: read them again after a short pause.
            round += 1;
            if !pending.is_empty() {
                if round >= 8 {
                    return Err(StoreError::Conflict);
                }
                tokio::time::sleep(std::time::Duration::from_millis(25 << round.min(5))).await;
            }
        }
        Ok(keys.iter().map(|key| found.remove(key)).collect())
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        validate_item(&item)?;
        let expression = condition_expression(&condition);
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attributes(&item)?));
        if let Some(e) = expression {
            request = request
                .condition_expression(e.text)
                .set_expression_attribute_names((!e.names.is_empty()).then_some(e.names))
                .set_expression_attribute_values((!e.values.is_empty()).then_some(e.values));
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(service))
                if matches!(
                    service.err(),
                    PutItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                Err(StoreError::ConditionFailed {
                    index: 0,
                    key: item.key,
                })
            }
            Err(error) => Err(StoreError::backend(error)),
        }
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)));
        if let Some(e) = condition_expression(&condition) {
            request = request
                .condition_expression(e.text)
                .set_expression_attribute_names((!e.names.is_empty()).then_some(e.names))
                .set_expression_attribute_values((!e.values.is_empty()).then_some(e.values));
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(service))
                if matches!(
                    service.err(),
                    DeleteItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                Err(StoreError::ConditionFailed {
                    index: 0,
                    key: key.clone(),
                })
            }
            Err(error) => Err(StoreError::backend(error)),
        }
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        validate_transaction(&writes)?;
        let items = writes
            .iter()
            .map(|write| self.transact_item(write))
            .collect::<Result<Vec<_>, _>>()?;
        // One token per call: the SDK sends it again with each of its own retries of this call,
        // so a commit whose answer was lost is not applied a second time (DynamoDB keeps the
        // token ten minutes); the use case's own next attempt is a new call with a new token.
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .set_client_request_token(client_request_token())
            .send()
            .await
            .map(|_| ())
            .map_err(|error| transaction_error(error, &writes))
    }

    async fn put_batch(&self, items: Vec<Item>) -> Result<(), StoreError> {
        for chunk in items.chunks(BATCH_WRITE_LIMIT) {
            let mut requests = Vec::with_capacity(chunk.len());
            for item in chunk {
                validate_item(item)?;
                let put = PutRequest::builder()
                    .set_item(Some(to_attributes(item)?))
                    .build()
                    .map_err(StoreError::backend)?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            let mut pending = HashMap::from([(self.table.clone(), requests)]);
            // Unprocessed items (throttling) are sent again with a growing pause.
            for attempt in 0u32.. {
                let output = self
                    .client
                    .batch_write_item()
                    .set_request_items(Some(pending))
                    .send()
                    .await
                    .map_err(StoreError::backend)?;
                match output.unprocessed_items {
                    Some(left) if left.values().any(|r| !r.is_empty()) && attempt < 8 => {
                        pending = left;
                        tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                    }
                    Some(left) if left.values().any(|r| !r.is_empty()) => {
                        return Err(StoreError::InvalidWrite(
                            "batch write kept being throttled".into(),
                        ));
                    }
                    _ => break,
                }
            }
        }
        Ok(())
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let (pk_attr, sk_attr) = match query.index {
            None => ("pk", "sk"),
            Some(index) => index.key_attributes(),
        };
        let mut values: AttributeMap =
            HashMap::from([(":pk".to_string(), AttributeValue::S(query.pk.clone()))]);
        let mut text = "#pk = :pk".to_string();
        let mut uses_sk = true;
        match &query.range {
            SortRange::All => uses_sk = false,
            SortRange::Prefix(prefix) => {
                text.push_str(" AND begins_with(#sk, :a)");
                values.insert(":a".into(), AttributeValue::S(prefix.clone()));
            }
            SortRange::Between(low, high) => {
                text.push_str(" AND #sk BETWEEN :a AND :b");
                values.insert(":a".into(), AttributeValue::S(low.clone()));
                values.insert(":b".into(), AttributeValue::S(high.clone()));
            }
            SortRange::UpTo(high) => {
                text.push_str(" AND #sk <= :a");
                values.insert(":a".into(), AttributeValue::S(high.clone()));
            }
            SortRange::From(low) => {
                text.push_str(" AND #sk >= :a");
                values.insert(":a".into(), AttributeValue::S(low.clone()));
            }
        }
        let mut names = HashMap::from([("#pk".to_string(), pk_attr.to_string())]);
        if uses_sk {
            names.insert("#sk".into(), sk_attr.to_string());
        }
        let start_key = match &query.cursor {
            None => None,
            Some(cursor) => Some({
                let (expected, partition) = start_key_attributes(query);
                decode_cursor(query, cursor, &expected, partition)?
                    .into_iter()
                    .map(|(name, value)| (name, AttributeValue::S(value)))
                    .collect::<AttributeMap>()
            }),
        };
        let limit = i32::try_from(query.limit.clamp(1, 1000)).unwrap_or(1000);
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(query.index.map(|index| index.name().to_string()))
            .consistent_read(query.index.is_none())
            .key_condition_expression(text)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .limit(limit)
            .scan_index_forward(!query.descending)
            .set_exclusive_start_key(start_key)
            .send()
            .await
            .map_err(StoreError::backend)?;
        let items = output
            .items()
            .iter()
            .map(from_attributes)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            next_cursor: output.last_evaluated_key().map(|key| cursor_of(query, key)),
            items_read: u64::try_from(output.scanned_count()).unwrap_or(0),
        })
    }

    /// `ADD` on the item's number attribute `n`, answering the new value: one atomic step that
    /// never conflicts. The item gets a version and an empty body if it is new, so it reads as
    /// an item like any other.
    async fn add(&self, key: &Key, delta: u64) -> Result<u64, StoreError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .update_expression(ADD_EXPRESSION)
            .set_expression_attribute_names(Some(add_names()))
            .set_expression_attribute_values(Some(add_values(delta)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(StoreError::backend)?;
        counter_of(output.attributes())
    }

    async fn counter(&self, key: &Key) -> Result<u64, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .projection_expression("#n")
            .expression_attribute_names("#n", COUNTER_ATTRIBUTE)
            .send()
            .await
            .map_err(StoreError::backend)?;
        match output.item() {
            None => Ok(0),
            Some(item) if item.is_empty() => Ok(0),
            item => counter_of(item),
        }
    }
}

/// The number attribute a counter item holds (outside the JSON body, so `ADD` can reach it).
const COUNTER_ATTRIBUTE: &str = "n";

/// Adds to the counter; a new counter item gets a version and an empty body, so it reads as an
/// item like any other.
const ADD_EXPRESSION: &str = "SET #version = if_not_exists(#version, :one), #body = if_not_exists(#body, :empty) ADD #n :delta";

fn add_names() -> HashMap<String, String> {
    HashMap::from([
        ("#version".to_string(), "version".to_string()),
        ("#body".to_string(), "body".to_string()),
        ("#n".to_string(), COUNTER_ATTRIBUTE.to_string()),
    ])
}

fn add_values(delta: u64) -> AttributeMap {
    HashMap::from([
        (":one".to_string(), AttributeValue::N("1".into())),
        (":empty".to_string(), AttributeValue::S("{}".into())),
        (":delta".to_string(), AttributeValue::N(delta.to_string())),
    ])
}

fn counter_of(attributes: Option<&AttributeMap>) -> Result<u64, StoreError> {
    match attributes.and_then(|map| map.get(COUNTER_ATTRIBUTE)) {
        None => Ok(0),
        Some(AttributeValue::N(value)) => value
            .parse()
            .map_err(|_| StoreError::MalformedAttribute("n is not a count".into())),
        Some(_) => Err(StoreError::MalformedAttribute("n is not a number".into())),
    }
}
